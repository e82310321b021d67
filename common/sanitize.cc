#include "common/sanitize.h"

#include "absl/strings/str_cat.h"

namespace flopd {
namespace {

// The length of the valid UTF-8 sequence starting at text[i] (1..4), or 0
// when the byte there does not start one.
size_t Utf8Length(absl::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  size_t length = 0;
  unsigned char low = 0x80, high = 0xbf;  // the range of the second byte
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead == 0xe0) low = 0xa0;   // no overlong forms
    if (lead == 0xed) high = 0x9f;  // no surrogates
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead == 0xf0) low = 0x90;
    if (lead == 0xf4) high = 0x8f;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  if (byte(i + 1) < low || byte(i + 1) > high) return 0;
  for (size_t k = 2; k < length; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return 0;
  }
  return length;
}

void AppendHex(std::string* out, unsigned char c) {
  constexpr char kHex[] = "0123456789abcdef";
  out->append("\\x");
  out->push_back(kHex[c >> 4]);
  out->push_back(kHex[c & 15]);
}

}  // namespace

std::string Sanitized(absl::string_view text, size_t max_bytes) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    std::string piece;
    size_t consumed = 1;
    if (c == '\n') {
      piece = "\\n";
    } else if (c == '\r') {
      piece = "\\r";
    } else if (c == '\t') {
      piece = "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      AppendHex(&piece, c);
    } else if (c < 0x80) {
      piece.push_back(static_cast<char>(c));
    } else if (const size_t length = Utf8Length(text, i); length == 0) {
      AppendHex(&piece, c);
    } else if (c == 0xc2 && static_cast<unsigned char>(text[i + 1]) < 0xa0) {
      // A C1 control character, U+0080..U+009F.
      AppendHex(&piece, c);
      AppendHex(&piece, static_cast<unsigned char>(text[i + 1]));
      consumed = 2;
    } else {
      piece.assign(text.data() + i, length);
      consumed = length;
    }
    if (out.size() + piece.size() > max_bytes) break;
    out += piece;
    i += consumed;
  }
  if (i < text.size()) absl::StrAppend(&out, "…(", text.size() - i, " more bytes)");
  return out;
}

}  // namespace flopd
