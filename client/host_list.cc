#include "client/host_list.h"

#include <netdb.h>
#include <sys/socket.h>

#include <arpa/inet.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/host_client.h"
#include "common/address.h"
#include "common/sanitize.h"

namespace flopd {
namespace {

absl::Status HostError(absl::string_view word, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("--host: '", Sanitized(word, kQuotedValueBytes), "': ", why));
}

bool IsRangeText(absl::string_view inside) {
  return !inside.empty() && std::all_of(inside.begin(), inside.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == ',' || c == '-';
  });
}

// "01-03,7" -> 01 02 03 7 (each range keeps the width of its first bound).
absl::StatusOr<std::vector<std::string>> ExpandRanges(absl::string_view expression,
                                                      absl::string_view inside) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(inside, ',')) {
    std::vector<absl::string_view> bounds = absl::StrSplit(part, '-');
    if (part.empty() || bounds.size() > 2 || bounds[0].empty() ||
        (bounds.size() == 2 && bounds[1].empty())) {
      return HostError(expression, absl::StrCat("'", part, "' is not a number or a range A-B"));
    }
    uint64_t first = 0, last = 0;
    if (bounds[0].size() > 9 || (bounds.size() == 2 && bounds[1].size() > 9) ||
        !absl::SimpleAtoi(bounds[0], &first) ||
        !absl::SimpleAtoi(bounds.size() == 2 ? bounds[1] : bounds[0], &last)) {
      return HostError(expression, absl::StrCat("'", part, "': numbers of at most 9 digits"));
    }
    if (last < first) {
      return HostError(expression, absl::StrCat("range ", part, " runs backwards"));
    }
    if (last - first >= kMaxHosts || out.size() + (last - first + 1) > kMaxHosts) {
      return HostError(expression, absl::StrCat("expands to more than ", kMaxHosts, " hosts"));
    }
    const size_t width = bounds[0].size();
    for (uint64_t n = first; n <= last; ++n) {
      std::string digits = absl::StrCat(n);
      if (digits.size() < width) digits.insert(0, width - digits.size(), '0');
      out.push_back(std::move(digits));
    }
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> Resolve(const std::string& name) {
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int error = getaddrinfo(name.c_str(), nullptr, &hints, &found);
  if (error != 0) return absl::NotFoundError(gai_strerror(error));
  std::vector<std::string> addresses;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {0};
    const void* raw = a->ai_family == AF_INET
                          ? static_cast<const void*>(
                                &reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr)
                          : static_cast<const void*>(
                                &reinterpret_cast<const sockaddr_in6*>(a->ai_addr)->sin6_addr);
    if (inet_ntop(a->ai_family, raw, text, sizeof(text)) != nullptr) addresses.push_back(text);
  }
  freeaddrinfo(found);
  if (addresses.empty()) return absl::NotFoundError("no address");
  return addresses;
}

// ":PORT" after a keyword (dns:NAME:PORT, slurm:PORT): the port, or the
// default.
absl::StatusOr<int> PortOf(absl::string_view word, absl::string_view text) {
  if (text.empty()) return kDefaultPort;
  int port = 0;
  if (!absl::SimpleAtoi(text, &port) || port < 1 || port > 65535 ||
      !std::all_of(text.begin(), text.end(),
                   [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); })) {
    return HostError(word, absl::StrCat("port '", Sanitized(text, kQuotedValueBytes),
                                        "' is not allowed; allowed 1..65535"));
  }
  return port;
}

class Expander {
 public:
  explicit Expander(const HostSources& sources) : sources_(sources) {}

  // One word of a --host value or of a hosts file line (`from_file`: no
  // nested @FILE).
  absl::Status Word(absl::string_view word, const std::string& label, bool from_file) {
    if (absl::ConsumePrefix(&word, "@")) {
      if (from_file) return HostError(word, "a hosts file cannot include another (@FILE)");
      return File(std::string(word));
    }
    if (absl::StartsWith(word, "unix:")) return Add(std::string(word), label, word);
    if (absl::string_view rest = word; absl::ConsumePrefix(&rest, "dns:")) {
      const size_t colon = rest.rfind(':');
      const std::string name(colon == absl::string_view::npos ? rest : rest.substr(0, colon));
      absl::StatusOr<int> port =
          PortOf(word, colon == absl::string_view::npos ? "" : rest.substr(colon + 1));
      if (!port.ok()) return port.status();
      if (name.empty()) return HostError(word, "dns: needs a name, e.g. dns:flopd.default.svc");
      absl::StatusOr<std::vector<std::string>> addresses = sources_.resolve(name);
      if (!addresses.ok()) {
        return HostError(word, absl::StrCat("no address for ", name, " (",
                                            addresses.status().message(), ")"));
      }
      return Several(*addresses, *port, label, word);
    }
    if (word == "slurm" || absl::StartsWith(word, "slurm:")) {
      absl::StatusOr<int> port = PortOf(word, word.size() > 6 ? word.substr(6) : "");
      if (!port.ok()) return port.status();
      std::string nodes = sources_.getenv("SLURM_JOB_NODELIST");
      if (nodes.empty()) nodes = sources_.getenv("SLURM_NODELIST");
      if (nodes.empty()) {
        return HostError(word, "SLURM_JOB_NODELIST is not set: not inside a Slurm allocation");
      }
      std::vector<std::string> names;
      for (const std::string& expression : SplitHostWords(nodes)) {
        absl::StatusOr<std::vector<std::string>> expanded = ExpandHostlist(expression);
        if (!expanded.ok()) return expanded.status();
        names.insert(names.end(), expanded->begin(), expanded->end());
      }
      return Several(names, *port, label, word);
    }
    absl::StatusOr<std::vector<std::string>> names = ExpandHostlist(word);
    if (!names.ok()) return names.status();
    if (!label.empty() && names->size() > 1) {
      return HostError(word, "a label names one host, and this expression has several");
    }
    for (const std::string& name : *names) {
      if (absl::Status st = Add(name, label, word); !st.ok()) return st;
    }
    return absl::OkStatus();
  }

  std::vector<HostEntry> Take() { return std::move(entries_); }

 private:
  absl::Status File(const std::string& path) {
    if (path.empty()) return HostError("@", "@ needs a file: @hosts.txt");
    absl::StatusOr<std::string> text = sources_.read_file(path);
    if (!text.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--host: @", Sanitized(path, kQuotedValueBytes), ": ",
                       text.status().message()));
    }
    int line_number = 0;
    for (absl::string_view line : absl::StrSplit(*text, '\n')) {
      ++line_number;
      if (const size_t hash = line.find('#'); hash != absl::string_view::npos) {
        line = line.substr(0, hash);
      }
      std::vector<absl::string_view> columns =
          absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
      if (columns.empty()) continue;
      auto at_line = [&](const absl::Status& st) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--host: @", Sanitized(path, kQuotedValueBytes), ":", line_number, ": ",
            absl::StripPrefix(st.message(), "--host: ")));
      };
      if (columns.size() > 2) {
        return at_line(HostError(line, "a line holds a host and at most one label"));
      }
      const std::string label = columns.size() == 2 ? std::string(columns[1]) : "";
      if (absl::Status st = Word(columns[0], label, /*from_file=*/true); !st.ok()) {
        return at_line(st);
      }
    }
    return absl::OkStatus();
  }

  absl::Status Several(const std::vector<std::string>& hosts, int port, const std::string& label,
                       absl::string_view word) {
    if (!label.empty() && hosts.size() > 1) {
      return HostError(word, "a label names one host, and this word has several");
    }
    for (const std::string& host : hosts) {
      if (absl::Status st = Add(FormatHostPort(host, port), label, word); !st.ok()) return st;
    }
    return absl::OkStatus();
  }

  absl::Status Add(const std::string& host, const std::string& label, absl::string_view word) {
    absl::StatusOr<std::string> address = DialAddress(host);
    if (!address.ok()) return address.status();
    if (!seen_.insert(*address).second) return absl::OkStatus();  // the same daemon: once
    if (entries_.size() >= kMaxHosts) {
      return HostError(word, absl::StrCat("more than ", kMaxHosts, " hosts"));
    }
    entries_.push_back({*std::move(address), label});
    return absl::OkStatus();
  }

  const HostSources& sources_;
  std::vector<HostEntry> entries_;
  std::set<std::string> seen_;
};

}  // namespace

std::vector<std::string> SplitHostWords(absl::string_view spec) {
  std::vector<std::string> words;
  std::string current;
  int depth = 0;
  auto flush = [&] {
    absl::string_view trimmed = absl::StripAsciiWhitespace(current);
    if (!trimmed.empty()) words.emplace_back(trimmed);
    current.clear();
  };
  for (char c : spec) {
    if (c == '[') ++depth;
    if (c == ']' && depth > 0) --depth;
    if (c == ',' && depth == 0) {
      flush();
    } else {
      current += c;
    }
  }
  flush();
  return words;
}

absl::StatusOr<std::vector<std::string>> ExpandHostlist(absl::string_view expression) {
  std::vector<std::string> names = {""};
  absl::string_view rest = expression;
  while (!rest.empty()) {
    const size_t open = rest.find('[');
    const size_t stray = rest.find(']');
    if (stray != absl::string_view::npos && (open == absl::string_view::npos || stray < open)) {
      return HostError(expression, "a ']' without its '['");
    }
    const std::string literal(rest.substr(0, open));
    for (std::string& name : names) name += literal;
    if (open == absl::string_view::npos) break;
    const size_t close = rest.find(']', open);
    if (close == absl::string_view::npos) return HostError(expression, "a '[' without its ']'");
    const absl::string_view inside = rest.substr(open + 1, close - open - 1);
    if (!IsRangeText(inside)) {  // an IPv6 address: kept as it is
      for (std::string& name : names) absl::StrAppend(&name, "[", inside, "]");
    } else {
      absl::StatusOr<std::vector<std::string>> values = ExpandRanges(expression, inside);
      if (!values.ok()) return values.status();
      if (names.size() * values->size() > kMaxHosts) {
        return HostError(expression, absl::StrCat("expands to more than ", kMaxHosts, " hosts"));
      }
      std::vector<std::string> product;
      product.reserve(names.size() * values->size());
      for (const std::string& name : names) {
        for (const std::string& value : *values) product.push_back(name + value);
      }
      names = std::move(product);
    }
    rest = rest.substr(close + 1);
  }
  return names;
}

HostSources SystemHostSources() {
  HostSources sources;
  sources.read_file = [](const std::string& path) -> absl::StatusOr<std::string> {
    std::ifstream in(path, std::ios::binary);
    if (!in) return absl::NotFoundError("cannot read the file");
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  };
  sources.getenv = [](const std::string& name) {
    const char* value = std::getenv(name.c_str());
    return std::string(value == nullptr ? "" : value);
  };
  sources.resolve = Resolve;
  return sources;
}

absl::StatusOr<std::vector<HostEntry>> ExpandHosts(absl::string_view spec,
                                                   const HostSources& sources) {
  Expander expander(sources);
  const std::vector<std::string> words = SplitHostWords(spec);
  if (words.empty()) {
    return absl::InvalidArgumentError(
        "--host: no host given; expected H[,H...], a hostlist such as gpu[01-04], @FILE, "
        "dns:NAME or slurm");
  }
  for (const std::string& word : words) {
    if (absl::Status st = expander.Word(word, "", /*from_file=*/false); !st.ok()) return st;
  }
  std::vector<HostEntry> entries = expander.Take();
  if (entries.empty()) return absl::InvalidArgumentError("--host: the hosts file names no host");
  return entries;
}

absl::StatusOr<std::vector<std::string>> ExpandHostAddresses(absl::string_view spec) {
  absl::StatusOr<std::vector<HostEntry>> entries = ExpandHosts(spec, SystemHostSources());
  if (!entries.ok()) return entries.status();
  std::vector<std::string> addresses;
  for (HostEntry& entry : *entries) addresses.push_back(std::move(entry.address));
  return addresses;
}

}  // namespace flopd
