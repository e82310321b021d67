#include "client/text_wrap.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace flopd {

std::string WrapLongLines(const std::string& text, size_t width) {
  if (width == 0) return text;
  auto columns = [](absl::string_view s) {
    size_t n = 0;
    for (unsigned char ch : s) n += (ch & 0xC0) != 0x80;
    return n;
  };
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (columns(line) <= width) {
      lines.emplace_back(line);
      continue;
    }
    const size_t indent = std::min(line.find_first_not_of(' '), line.size());
    const std::string continuation(indent + (indent > 0 ? 2 : 0), ' ');
    std::string current(indent, ' ');
    bool empty = true;  // no word on `current` yet
    for (absl::string_view word : absl::StrSplit(line.substr(indent), ' ', absl::SkipEmpty())) {
      if (!empty && columns(current) + 1 + columns(word) > width) {
        lines.push_back(current);
        current = continuation;
        empty = true;
      }
      absl::StrAppend(&current, empty ? "" : " ", word);
      empty = false;
    }
    lines.push_back(current);
  }
  return absl::StrJoin(lines, "\n");
}

}  // namespace flopd
