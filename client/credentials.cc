#include "client/credentials.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace flopd {
namespace {

ClientCredentials& Current() {
  static ClientCredentials* credentials = new ClientCredentials();
  return *credentials;
}

absl::StatusOr<std::string> ReadWhole(const std::string& path, const std::string& source) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(source, ": cannot read ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

absl::StatusOr<ClientCredentials> TakeCredentials(
    std::vector<std::string>* args, const std::function<const char*(const char*)>& getenv_fn) {
  auto env = [&](const char* name) -> std::string {
    const char* value = getenv_fn ? getenv_fn(name) : std::getenv(name);
    return value == nullptr ? "" : value;
  };
  // Flags first: --name VALUE or --name=VALUE; --tls alone.
  std::string flag_values[5];
  const char* const kValueFlags[] = {"tls-ca", "tls-cert", "tls-key", "token-file",
                                     "tls-server-name"};
  bool tls_flag = false;
  std::vector<std::string> rest;
  for (size_t i = 0; i < args->size(); ++i) {
    const std::string& arg = (*args)[i];
    if (arg == "--") {  // the end of flags: the rest is kept as it is
      rest.insert(rest.end(), args->begin() + static_cast<long>(i), args->end());
      break;
    }
    if (arg == "--tls") {
      tls_flag = true;
      continue;
    }
    bool taken = false;
    for (size_t f = 0; f < 5 && !taken; ++f) {
      const std::string name = absl::StrCat("--", kValueFlags[f]);
      if (arg == name) {
        if (i + 1 >= args->size()) {
          return absl::InvalidArgumentError(absl::StrCat(name, ": needs a value"));
        }
        flag_values[f] = (*args)[++i];
        taken = true;
      } else if (absl::StartsWith(arg, name + "=")) {
        flag_values[f] = arg.substr(name.size() + 1);
        taken = true;
      }
    }
    if (!taken) rest.push_back(arg);
  }
  *args = std::move(rest);

  // Each setting: the flag's file, else the variable's.
  struct Source {
    std::string path;
    std::string name;  // for messages
  };
  auto pick = [&](size_t f, const char* variable) -> Source {
    if (!flag_values[f].empty()) return {flag_values[f], absl::StrCat("--", kValueFlags[f])};
    return {env(variable), variable};
  };
  ClientCredentials out;
  const Source ca = pick(0, "FLOPD_TLS_CA");
  const Source certificate = pick(1, "FLOPD_TLS_CERT");
  const Source key = pick(2, "FLOPD_TLS_KEY");
  const Source token_file = pick(3, "FLOPD_TOKEN_FILE");
  out.server_name = pick(4, "FLOPD_TLS_SERVER_NAME").path;
  out.tls = tls_flag || !ca.path.empty() || !certificate.path.empty() || env("FLOPD_TLS") == "1";
  if (!ca.path.empty()) {
    absl::StatusOr<std::string> pem = ReadWhole(ca.path, ca.name);
    if (!pem.ok()) return pem.status();
    out.ca_pem = *std::move(pem);
  }
  if (certificate.path.empty() != key.path.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert and --tls-key (FLOPD_TLS_CERT, FLOPD_TLS_KEY) go together: give both or "
        "neither");
  }
  if (!certificate.path.empty()) {
    absl::StatusOr<std::string> pem = ReadWhole(certificate.path, certificate.name);
    if (!pem.ok()) return pem.status();
    out.certificate_pem = *std::move(pem);
    pem = ReadWhole(key.path, key.name);
    if (!pem.ok()) return pem.status();
    out.key_pem = *std::move(pem);
  }
  if (!token_file.path.empty()) {
    absl::StatusOr<std::string> token = ReadWhole(token_file.path, token_file.name);
    if (!token.ok()) return token.status();
    out.token = std::string(absl::StripAsciiWhitespace(*token));
    if (out.token.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(token_file.name, ": ", token_file.path, " holds no token"));
    }
  } else {
    out.token = std::string(absl::StripAsciiWhitespace(env("FLOPD_TOKEN")));
  }
  if (out.token.find_first_of("\r\n") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(token_file.path.empty() ? "FLOPD_TOKEN" : token_file.name,
                     ": the token must be one line"));
  }
  return out;
}

const char* CredentialsHelp() {
  return "Credentials (any command; docs/SECURITY.md):\n"
         "  --tls-ca FILE      TLS, verifying flopd against this CA (FLOPD_TLS_CA)\n"
         "  --tls              TLS, verifying against the system's roots (FLOPD_TLS=1)\n"
         "  --tls-cert FILE    client certificate for mutual TLS, with --tls-key\n"
         "  --tls-key FILE     (FLOPD_TLS_CERT, FLOPD_TLS_KEY)\n"
         "  --tls-server-name NAME  the name the daemons' certificate carries when it is not\n"
         "                     the host dialed, e.g. for dns:NAME (FLOPD_TLS_SERVER_NAME)\n"
         "  --token-file FILE  bearer token, read from FILE (FLOPD_TOKEN_FILE; or the token\n"
         "                     itself in FLOPD_TOKEN). Sent over TLS, or in the clear only to\n"
         "                     a loopback address or unix:PATH.\n";
}

void SetClientCredentials(ClientCredentials credentials) { Current() = std::move(credentials); }

const ClientCredentials& CurrentClientCredentials() { return Current(); }

}  // namespace flopd
