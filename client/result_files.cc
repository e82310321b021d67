#include "client/result_files.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/unknown_field_set.h"
#include "google/protobuf/util/json_util.h"
#include "proto/wire/wire.h"

namespace flopd {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;
using google::protobuf::Value;

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// ----------------------------------------------------------------- numbers

// The shortest of %.15g..%.17g that reads back as `v` (finite). Plain C
// locale digits, a valid JSON number.
std::string Number(double v) {
  char text[40];
  for (int precision = 15; precision <= 17; ++precision) {
    std::snprintf(text, sizeof(text), "%.*g", precision, v);
    if (std::strtod(text, nullptr) == v) break;
  }
  return text;
}

// An integer from text: "12", or a float spelling of one ("12.0", "1e3":
// pandas writes an int column holding a blank as floats).
bool ParseInt64(absl::string_view text, int64_t* out) {
  if (absl::SimpleAtoi(text, out)) return true;
  double d = 0;
  if (!absl::SimpleAtod(text, &d) || !std::isfinite(d) || d != std::floor(d) ||
      std::fabs(d) >= 9.2233720368547758e18) {
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

// "2026-11-30T20:06:40.123Z"; empty for 0 (not recorded).
std::string IsoTime(int64_t unix_ms) {
  if (unix_ms == 0) return "";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(unix_ms),
                          absl::UTCTimeZone());
}

bool ParseIsoTime(absl::string_view text, int64_t* unix_ms) {
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, std::string(text), &t, &error)) return false;
  *unix_ms = absl::ToUnixMillis(t);
  return true;
}

// -------------------------------------------------------------- map fields
//
// No map field is touched through protobuf's map code across the line
// between libprotobuf and our code: map fields (Result.params, .observations,
// ...) are read and written through the wire format and their entry messages,
// never through reflection on a map field (FieldSize, GetRepeatedMessage,
// AddMessage, MapBegin; MessageDifferencer), and the JSON objects protobuf
// parses (google.protobuf.Struct) are read through the wire format too, never
// through Struct::fields().
//
// Why: Debian's libprotobuf (3.21) is not built with -fsanitize=thread, and
// its map_field.h gives MapFieldBase two more members (seq1_, seq2_) under
// __SANITIZE_THREAD__. A TSan build of our code lays every map field out 8
// bytes further on (MapFieldBase 80 bytes, repeated_field_ at 24, state_ at
// 72) than the library's own code does (72; 16; 64). Reflection on one of
// our map fields runs the library's MapFieldBase::SyncRepeatedFieldWithMap:
// it locks its mutex_ (at 24) over our repeated_field_, which leaves 1 in the
// pointer, then calls our inline SyncRepeatedFieldWithMapNoLock, which takes
// 0x1 for the repeated field: the SEGV at address 0x9 in
// RepeatedPtrFieldBase::Clear. And a Struct the library's JSON parser built,
// iterated by our inline Map code, is read 8 bytes off: a SEGV in
// Map::InnerMap::iterator_base::SearchFrom. The generated serializers and
// parsers are safe: each message's map code runs on one side of the line
// (ours for our messages, the library's for Struct), and an entry is a plain
// message (key = 1, value = 2).

// A new (empty) entry of map field `f` of `m`.
std::unique_ptr<Message> NewMapEntry(const Message& m, const FieldDescriptor* f) {
  return std::unique_ptr<Message>(
      m.GetReflection()->GetMessageFactory()->GetPrototype(f->message_type())->New());
}

// The entries of map field `f` of `m`, in wire order.
std::vector<std::unique_ptr<Message>> MapEntries(const Message& m, const FieldDescriptor* f) {
  std::vector<std::unique_ptr<Message>> entries;
  UnknownFieldSet wire;
  if (!wire.ParseFromString(m.SerializePartialAsString())) return entries;
  for (int i = 0; i < wire.field_count(); ++i) {
    const UnknownField& field = wire.field(i);
    if (field.number() != f->number() || field.type() != UnknownField::TYPE_LENGTH_DELIMITED) {
      continue;
    }
    std::unique_ptr<Message> entry = NewMapEntry(m, f);
    if (!entry->ParsePartialFromString(field.length_delimited())) continue;
    entries.push_back(std::move(entry));
  }
  return entries;
}

// Puts `entries` into map field `f` of `m` (a key already there takes the
// entry's value; of two entries with one key, the later wins).
void AddMapEntries(const std::vector<std::unique_ptr<Message>>& entries, const FieldDescriptor* f,
                   Message* m) {
  if (entries.empty()) return;
  UnknownFieldSet wire;
  for (const auto& entry : entries) {
    entry->SerializePartialToString(wire.AddLengthDelimited(f->number()));
  }
  std::string bytes;
  wire.SerializeToString(&bytes);
  (void)m->MergeFromString(bytes);
}

// The members of a JSON object protobuf parsed, in key order.
std::vector<std::pair<std::string, Value>> StructFields(const google::protobuf::Struct& s) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream out(&stream);
    out.SetSerializationDeterministic(true);  // keys sorted
    s.SerializePartialToCodedStream(&out);
  }
  std::vector<std::pair<std::string, Value>> fields;
  UnknownFieldSet wire;
  if (!wire.ParseFromString(bytes)) return fields;
  for (int i = 0; i < wire.field_count(); ++i) {
    const UnknownField& entry = wire.field(i);
    if (entry.number() != google::protobuf::Struct::kFieldsFieldNumber ||
        entry.type() != UnknownField::TYPE_LENGTH_DELIMITED) {
      continue;
    }
    UnknownFieldSet parts;
    if (!parts.ParseFromString(entry.length_delimited())) continue;
    std::pair<std::string, Value> field;
    for (int k = 0; k < parts.field_count(); ++k) {
      const UnknownField& part = parts.field(k);
      if (part.type() != UnknownField::TYPE_LENGTH_DELIMITED) continue;
      if (part.number() == 1) field.first = part.length_delimited();
      if (part.number() == 2) (void)field.second.ParseFromString(part.length_delimited());
    }
    fields.push_back(std::move(field));
  }
  return fields;
}

// ------------------------------------------------------------ JSON writing

// The length of the valid UTF-8 sequence at the start of `s`, 0 if none.
size_t Utf8Length(absl::string_view s) {
  const auto byte = [&s](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = byte(0);
  if (c < 0x80) return 1;
  size_t length = 0;
  uint32_t code = 0;
  if ((c & 0xE0) == 0xC0) {
    length = 2, code = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    length = 3, code = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    length = 4, code = c & 0x07;
  } else {
    return 0;
  }
  if (s.size() < length) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    code = (code << 6) | (byte(i) & 0x3F);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code < kMin[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
  return length;
}

// A JSON string; bytes that are not UTF-8 become U+FFFD, so the text is
// always valid JSON.
void AppendJsonString(absl::string_view s, std::string* out) {
  out->push_back('"');
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t length = Utf8Length(s.substr(i));
      if (length == 0) {
        out->append("\xEF\xBF\xBD");  // U+FFFD
      } else {
        out->append(s.substr(i, length).data(), length);
        i += length - 1;
      }
      continue;
    }
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
          out->append(escaped);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

void AppendJsonDouble(double v, std::string* out) {
  out->append(std::isfinite(v) ? Number(v) : "null");
}

void AppendJsonMessage(const Message& message, std::string* out);

// A JSON number, or a string beyond 2^53, which a double (what most JSON
// readers hold a number in) cannot hold exactly: protobuf's spelling then.
template <typename Int>
void AppendJsonInt(Int v, std::string* out) {
  constexpr double kExact = 9007199254740992.0;  // 2^53
  const bool exact = static_cast<double>(v) <= kExact && static_cast<double>(v) >= -kExact;
  absl::StrAppend(out, exact ? "" : "\"", v, exact ? "" : "\"");
}

// Field `f` of `m`: its value (index < 0) or its element `index`.
void AppendJsonValue(const Message& m, const FieldDescriptor* f, int index, std::string* out) {
  const Reflection* r = m.GetReflection();
  const bool element = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      AppendJsonInt(element ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f), out);
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      AppendJsonInt(element ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f), out);
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      AppendJsonInt(element ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f), out);
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      AppendJsonInt(element ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f), out);
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      AppendJsonDouble(element ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f), out);
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      AppendJsonDouble(element ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f), out);
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      out->append((element ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? "true"
                                                                                 : "false");
      break;
    case FieldDescriptor::CPPTYPE_ENUM: {
      const int number = element ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f);
      const auto* value = f->enum_type()->FindValueByNumber(number);
      if (value != nullptr) {
        AppendJsonString(value->name(), out);
      } else {
        absl::StrAppend(out, number);
      }
      break;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      const std::string s = element ? r->GetRepeatedString(m, f, index) : r->GetString(m, f);
      AppendJsonString(f->type() == FieldDescriptor::TYPE_BYTES ? absl::Base64Escape(s) : s, out);
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      AppendJsonMessage(element ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f), out);
      break;
  }
}

// A map field as a JSON object, keys sorted.
void AppendJsonMap(const Message& m, const FieldDescriptor* f, std::string* out) {
  const FieldDescriptor* key_field = f->message_type()->map_key();
  const FieldDescriptor* value_field = f->message_type()->map_value();
  const std::vector<std::unique_ptr<Message>> map = MapEntries(m, f);
  std::vector<std::pair<std::string, const Message*>> entries;
  for (const std::unique_ptr<Message>& entry : map) {
    std::string key;
    AppendJsonValue(*entry, key_field, -1, &key);
    if (key_field->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      key = entry->GetReflection()->GetString(*entry, key_field);
    }
    entries.emplace_back(std::move(key), entry.get());
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  out->push_back('{');
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendJsonString(entries[i].first, out);
    out->push_back(':');
    AppendJsonValue(*entries[i].second, value_field, -1, out);
  }
  out->push_back('}');
}

// protobuf's JSON mapping (proto field names, every field: primitives at
// their defaults too, unset messages left out) with int64 as numbers and
// non-finite doubles as null; a Result's null relative_noise is followed by
// "relative_noise_note".
void AppendJsonMessage(const Message& m, std::string* out) {
  const Descriptor* d = m.GetDescriptor();
  const Reflection* r = m.GetReflection();
  out->push_back('{');
  bool first = true;
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (!f->is_repeated() && (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE ||
                              f->real_containing_oneof() != nullptr) &&
        !r->HasField(m, f)) {
      continue;
    }
    if (!first) out->push_back(',');
    first = false;
    AppendJsonString(f->name(), out);
    out->push_back(':');
    if (f->is_map()) {
      AppendJsonMap(m, f, out);
    } else if (f->is_repeated()) {
      out->push_back('[');
      for (int k = 0; k < r->FieldSize(m, f); ++k) {
        if (k > 0) out->push_back(',');
        AppendJsonValue(m, f, k, out);
      }
      out->push_back(']');
    } else {
      AppendJsonValue(m, f, -1, out);
    }
    if (f->number() == v1::Result::kRelativeNoiseFieldNumber && d == v1::Result::descriptor()) {
      const std::string note = NoiseNote(static_cast<const v1::Result&>(m));
      if (!note.empty()) {
        out->append(",\"relative_noise_note\":");
        AppendJsonString(note, out);
      }
    }
  }
  out->push_back('}');
}

// ------------------------------------------------------------ JSON reading

absl::Status NotAResult(absl::string_view where, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("not a flopd result: ", where.empty() ? "" : absl::StrCat(where, ": "), what));
}

std::string Shown(const Value& v) {
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(v, &json);
  if (json.size() > 40) json = json.substr(0, 37) + "...";
  return json;
}

// Integers: a JSON number that is a whole number, or a string of one (the
// older files); null is 0.
absl::StatusOr<int64_t> JsonInt(const Value& v, int64_t min, int64_t max, absl::string_view where) {
  int64_t n = 0;
  bool ok = false;
  if (v.kind_case() == Value::kNullValue) return 0;
  if (v.kind_case() == Value::kNumberValue) {
    const double d = v.number_value();
    ok = std::isfinite(d) && d == std::floor(d) && d >= -9.2233720368547758e18 &&
         d < 9.2233720368547758e18;
    if (ok) n = static_cast<int64_t>(d);
  } else if (v.kind_case() == Value::kStringValue) {
    ok = absl::SimpleAtoi(v.string_value(), &n);
  }
  if (!ok || n < min || n > max) {
    return NotAResult(where, absl::StrCat("expected an integer, got ", Shown(v)));
  }
  return n;
}

absl::StatusOr<uint64_t> JsonUInt(const Value& v, uint64_t max, absl::string_view where) {
  uint64_t n = 0;
  bool ok = false;
  if (v.kind_case() == Value::kNullValue) return 0;
  if (v.kind_case() == Value::kNumberValue) {
    const double d = v.number_value();
    ok = std::isfinite(d) && d == std::floor(d) && d >= 0 && d < 1.8446744073709552e19;
    if (ok) n = static_cast<uint64_t>(d);
  } else if (v.kind_case() == Value::kStringValue) {
    ok = absl::SimpleAtoi(v.string_value(), &n);
  }
  if (!ok || n > max) {
    return NotAResult(where, absl::StrCat("expected an unsigned integer, got ", Shown(v)));
  }
  return n;
}

// Doubles: a number, null (not finite: flopd's "no figure", +infinity), or
// a string: "Infinity", "-Infinity", "NaN" (the older files) or a number.
absl::StatusOr<double> JsonDouble(const Value& v, absl::string_view where) {
  if (v.kind_case() == Value::kNumberValue) return v.number_value();
  if (v.kind_case() == Value::kNullValue) return kInfinity;
  if (v.kind_case() == Value::kStringValue) {
    const std::string& s = v.string_value();
    if (s == "Infinity") return kInfinity;
    if (s == "-Infinity") return -kInfinity;
    if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
    double d = 0;
    if (absl::SimpleAtod(s, &d)) return d;
  }
  return NotAResult(where, absl::StrCat("expected a number, got ", Shown(v)));
}

absl::Status JsonToMessage(const Value& v, Message* m, const std::string& where);

// Sets field `f` of `m` from `v`: the field (singular) or a new element.
absl::Status SetFromJson(const Value& v, Message* m, const FieldDescriptor* f,
                         const std::string& where) {
  const Reflection* r = m->GetReflection();
  const bool add = f->is_repeated();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: {
      absl::StatusOr<int64_t> n = JsonInt(v, std::numeric_limits<int32_t>::min(),
                                          std::numeric_limits<int32_t>::max(), where);
      if (!n.ok()) return n.status();
      add ? r->AddInt32(m, f, static_cast<int32_t>(*n)) : r->SetInt32(m, f, static_cast<int32_t>(*n));
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      absl::StatusOr<int64_t> n = JsonInt(v, std::numeric_limits<int64_t>::min(),
                                          std::numeric_limits<int64_t>::max(), where);
      if (!n.ok()) return n.status();
      add ? r->AddInt64(m, f, *n) : r->SetInt64(m, f, *n);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      absl::StatusOr<uint64_t> n = JsonUInt(v, std::numeric_limits<uint32_t>::max(), where);
      if (!n.ok()) return n.status();
      add ? r->AddUInt32(m, f, static_cast<uint32_t>(*n))
          : r->SetUInt32(m, f, static_cast<uint32_t>(*n));
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      absl::StatusOr<uint64_t> n = JsonUInt(v, std::numeric_limits<uint64_t>::max(), where);
      if (!n.ok()) return n.status();
      add ? r->AddUInt64(m, f, *n) : r->SetUInt64(m, f, *n);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: {
      absl::StatusOr<double> d = JsonDouble(v, where);
      if (!d.ok()) return d.status();
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_FLOAT) {
        add ? r->AddFloat(m, f, static_cast<float>(*d)) : r->SetFloat(m, f, static_cast<float>(*d));
      } else {
        add ? r->AddDouble(m, f, *d) : r->SetDouble(m, f, *d);
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_BOOL:
      if (v.kind_case() != Value::kBoolValue && v.kind_case() != Value::kNullValue) {
        return NotAResult(where, absl::StrCat("expected true or false, got ", Shown(v)));
      }
      add ? r->AddBool(m, f, v.bool_value()) : r->SetBool(m, f, v.bool_value());
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_ENUM: {
      int number = 0;
      if (v.kind_case() == Value::kStringValue) {
        const auto* value = f->enum_type()->FindValueByName(v.string_value());
        if (value == nullptr) return NotAResult(where, absl::StrCat("unknown value ", Shown(v)));
        number = value->number();
      } else if (v.kind_case() != Value::kNullValue) {
        absl::StatusOr<int64_t> n = JsonInt(v, std::numeric_limits<int32_t>::min(),
                                            std::numeric_limits<int32_t>::max(), where);
        if (!n.ok()) return n.status();
        number = static_cast<int>(*n);
      }
      add ? r->AddEnumValue(m, f, number) : r->SetEnumValue(m, f, number);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      if (v.kind_case() != Value::kStringValue && v.kind_case() != Value::kNullValue) {
        return NotAResult(where, absl::StrCat("expected a string, got ", Shown(v)));
      }
      std::string s = v.string_value();
      if (f->type() == FieldDescriptor::TYPE_BYTES) {
        std::string bytes;
        if (!absl::Base64Unescape(s, &bytes) && !absl::WebSafeBase64Unescape(s, &bytes)) {
          return NotAResult(where, "expected base64");
        }
        s = std::move(bytes);
      }
      add ? r->AddString(m, f, std::move(s)) : r->SetString(m, f, std::move(s));
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      if (v.kind_case() == Value::kNullValue && !add) return absl::OkStatus();
      return JsonToMessage(v, add ? r->AddMessage(m, f) : r->MutableMessage(m, f), where);
  }
  return absl::OkStatus();
}

absl::Status JsonToMessage(const Value& v, Message* m, const std::string& where) {
  if (v.kind_case() != Value::kStructValue) {
    return NotAResult(where, absl::StrCat("expected a JSON object, got ", Shown(v)));
  }
  const Descriptor* d = m->GetDescriptor();
  for (const auto& [key, value] : StructFields(v.struct_value())) {
    const FieldDescriptor* f = d->FindFieldByName(key);
    for (int i = 0; f == nullptr && i < d->field_count(); ++i) {
      if (d->field(i)->json_name() == key) f = d->field(i);
    }
    if (f == nullptr) continue;  // a field this build does not know, or a note
    const std::string at = where.empty() ? key : absl::StrCat(where, ".", key);
    if (f->is_map()) {
      if (value.kind_case() == Value::kNullValue) continue;
      if (value.kind_case() != Value::kStructValue) {
        return NotAResult(at, absl::StrCat("expected a JSON object, got ", Shown(value)));
      }
      const FieldDescriptor* key_field = f->message_type()->map_key();
      const FieldDescriptor* value_field = f->message_type()->map_value();
      std::vector<std::unique_ptr<Message>> entries;
      for (const auto& [map_key, map_value] : StructFields(value.struct_value())) {
        entries.push_back(NewMapEntry(*m, f));
        Message* entry = entries.back().get();
        Value key_value;
        key_value.set_string_value(map_key);
        if (key_field->cpp_type() == FieldDescriptor::CPPTYPE_BOOL) {
          if (map_key != "true" && map_key != "false") return NotAResult(at, "bad map key");
          key_value.set_bool_value(map_key == "true");
        }
        const std::string entry_at = absl::StrCat(at, ".", map_key);
        if (absl::Status st = SetFromJson(key_value, entry, key_field, entry_at); !st.ok()) {
          return st;
        }
        if (absl::Status st = SetFromJson(map_value, entry, value_field, entry_at); !st.ok()) {
          return st;
        }
      }
      AddMapEntries(entries, f, m);
    } else if (f->is_repeated()) {
      if (value.kind_case() == Value::kNullValue) continue;
      if (value.kind_case() != Value::kListValue) {
        return NotAResult(at, absl::StrCat("expected a JSON array, got ", Shown(value)));
      }
      for (const Value& element : value.list_value().values()) {
        if (absl::Status st = SetFromJson(element, m, f, at); !st.ok()) return st;
      }
    } else if (absl::Status st = SetFromJson(value, m, f, at); !st.ok()) {
      return st;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Value> ParseJson(absl::string_view text) {
  Value value;
  auto status = google::protobuf::util::JsonStringToMessage(std::string(text), &value);
  if (!status.ok()) {
    // protobuf's message goes on to quote the text over several lines.
    const std::string message(status.message());
    return absl::InvalidArgumentError(absl::StrCat(
        "not a flopd result: not JSON (", message.substr(0, message.find('\n')), ")"));
  }
  return value;
}

// ------------------------------------------------------------------- CSV

std::string CsvField(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  return absl::StrCat("\"", absl::StrReplaceAll(text, {{"\"", "\"\""}}), "\"");
}

struct CsvRecord {
  int line = 0;  // where the record starts, from 1
  std::vector<std::string> fields;
};

// RFC 4180 records: "," between fields, "..." quoting (with "" inside) for
// fields holding commas, quotes or line breaks; CRLF or LF. Blank lines are
// skipped.
absl::StatusOr<std::vector<CsvRecord>> SplitCsv(absl::string_view text, absl::string_view name) {
  std::vector<CsvRecord> records;
  CsvRecord record;
  std::string field;
  bool quoted = false;      // inside "..."
  bool was_quoted = false;  // this field began with a quote
  int line = 1;
  record.line = 1;
  auto end_record = [&] {
    record.fields.push_back(std::move(field));
    field.clear();
    was_quoted = false;
    const bool blank = record.fields.size() == 1 && record.fields[0].empty();
    if (!blank) records.push_back(std::move(record));
    record = CsvRecord();
    record.line = line;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        if (c == '\n') ++line;
        field.push_back(c);
      }
    } else if (c == '"' && field.empty() && !was_quoted) {
      quoted = was_quoted = true;
    } else if (c == ',') {
      record.fields.push_back(std::move(field));
      field.clear();
      was_quoted = false;
    } else if (c == '\n' || (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n')) {
      if (c == '\r') ++i;
      ++line;
      end_record();
    } else {
      field.push_back(c);
    }
  }
  if (quoted) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ":", record.line, ": not a flopd result: a quoted field is never closed"));
  }
  if (!field.empty() || !record.fields.empty() || was_quoted) end_record();
  return records;
}

// The proto field at a dotted path from Result ("time.median").
std::vector<const FieldDescriptor*> FieldPath(absl::string_view path) {
  std::vector<const FieldDescriptor*> fields;
  const Descriptor* d = v1::Result::descriptor();
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    const FieldDescriptor* f = d->FindFieldByName(std::string(part));
    fields.push_back(f);
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) d = f->message_type();
  }
  return fields;
}

// A column's text of a plain scalar field: empty when a message on the way
// is absent (no roofline) or the number is not finite.
std::string WritePath(const v1::Result& result, absl::string_view path) {
  const std::vector<const FieldDescriptor*> fields = FieldPath(path);
  const Message* m = &result;
  for (size_t i = 0; i + 1 < fields.size(); ++i) {
    if (!m->GetReflection()->HasField(*m, fields[i])) return "";
    m = &m->GetReflection()->GetMessage(*m, fields[i]);
  }
  const FieldDescriptor* f = fields.back();
  const Reflection* r = m->GetReflection();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: return absl::StrCat(r->GetInt32(*m, f));
    case FieldDescriptor::CPPTYPE_INT64: return absl::StrCat(r->GetInt64(*m, f));
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      const double v = r->GetDouble(*m, f);
      return std::isfinite(v) ? Number(v) : "";
    }
    case FieldDescriptor::CPPTYPE_BOOL: return r->GetBool(*m, f) ? "true" : "false";
    case FieldDescriptor::CPPTYPE_STRING: return r->GetString(*m, f);
    default: return "";
  }
}

// Sets the field at `path` from a column's text (not empty).
absl::Status ReadPath(absl::string_view text, v1::Result* result, absl::string_view path) {
  const std::vector<const FieldDescriptor*> fields = FieldPath(path);
  Message* m = result;
  for (size_t i = 0; i + 1 < fields.size(); ++i) {
    m = m->GetReflection()->MutableMessage(m, fields[i]);
  }
  const FieldDescriptor* f = fields.back();
  const Reflection* r = m->GetReflection();
  int64_t n = 0;
  double d = 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      if (!ParseInt64(text, &n) || n < std::numeric_limits<int32_t>::min() ||
          n > std::numeric_limits<int32_t>::max()) {
        return absl::InvalidArgumentError("expected an integer");
      }
      r->SetInt32(m, f, static_cast<int32_t>(n));
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_INT64:
      if (!ParseInt64(text, &n)) return absl::InvalidArgumentError("expected an integer");
      r->SetInt64(m, f, n);
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_DOUBLE:
      if (!absl::SimpleAtod(text, &d)) return absl::InvalidArgumentError("expected a number");
      r->SetDouble(m, f, d);
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_BOOL: {
      const std::string lower = absl::AsciiStrToLower(text);
      if (lower != "true" && lower != "false" && lower != "1" && lower != "0") {
        return absl::InvalidArgumentError("expected true or false");
      }
      r->SetBool(m, f, lower == "true" || lower == "1");
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_STRING:
      r->SetString(m, f, std::string(text));
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

using ColumnWriter = std::string (*)(const v1::Result&);
using ColumnReader = absl::Status (*)(absl::string_view, v1::Result*);

// One CSV column: a proto field at `path`, or a `write`/`read` pair. An
// empty cell reads as the field's default, or as +infinity where
// `empty_is_infinite` (a figure that was not finite when written).
struct Column {
  const char* name;
  const char* path = nullptr;
  ColumnWriter write = nullptr;
  ColumnReader read = nullptr;  // nullptr with `write`: written only
  bool empty_is_infinite = false;
};

const std::vector<Column>& Columns() {
  static const auto* columns = new std::vector<Column>{
      // The columns of flopctl 1.x, in their order; new ones follow them.
      {"host_address", "host_address"},
      {"hostname", "hostname"},
      {"device", "device"},
      {"device_name", "device_name"},
      {"backend", "backend"},
      {"op", "op"},
      {"impl", "impl"},
      {"params", nullptr,
       [](const v1::Result& r) { return ResultPoint(r).ParamsLabel(); },
       [](absl::string_view text, v1::Result* r) {
         for (absl::string_view pair : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
           const size_t eq = pair.find('=');
           int64_t value = 0;
           if (eq == absl::string_view::npos || eq == 0 ||
               !absl::SimpleAtoi(pair.substr(eq + 1), &value)) {
             return absl::InvalidArgumentError(
                 absl::StrCat("expected NAME=INTEGER pairs, got '", pair, "'"));
           }
           (*r->mutable_params())[std::string(pair.substr(0, eq))] = value;
         }
         return absl::OkStatus();
       }},
      {"dtype", "dtype"},
      {"n", "n"},
      {"flops", "flops"},
      {"min_bytes", "min_bytes"},
      {"timing", "timing"},
      {"samples", "samples"},
      {"iterations_per_sample", "iterations_per_sample"},
      {"median_s", "time.median"},
      {"mean_s", "time.mean"},
      {"min_s", "time.min"},
      {"max_s", "time.max"},
      {"stddev_s", "time.stddev"},
      {"p05_s", "time.p05"},
      {"p25_s", "time.p25"},
      {"p75_s", "time.p75"},
      {"p95_s", "time.p95"},
      {"relative_noise", "relative_noise", nullptr, nullptr, true},
      {"stop_reason", "stop_reason"},
      {"gflops_per_s", "gflops_per_s"},
      {"gbytes_per_s", "gbytes_per_s"},
      {"verified", "verification.passed"},
      {"max_rel_error", "verification.max_rel_error", nullptr, nullptr, true},
      {"threads", "threads"},
      {"library", "library"},
      {"warnings", nullptr,
       [](const v1::Result& r) { return absl::StrJoin(r.warnings(), "; "); },
       [](absl::string_view text, v1::Result* r) {
         for (absl::string_view w : absl::StrSplit(text, "; ", absl::SkipEmpty())) {
           r->add_warnings(std::string(w));
         }
         return absl::OkStatus();
       }},
      {"intensity", "roofline.intensity"},
      {"floor_s", "roofline.floor_seconds"},
      {"efficiency", "roofline.efficiency"},
      {"bound", "roofline.bound"},
      {"peak_flops_per_s", "roofline.peak_flops_per_s"},
      {"peak_bandwidth_bytes_per_s", "roofline.peak_bandwidth_bytes_per_s"},
      {"host_label", "host_label"},
      // Added with issue 11.
      {"measured_at", nullptr,
       [](const v1::Result& r) { return IsoTime(r.measured_unix_ms()); },
       [](absl::string_view text, v1::Result* r) {
         int64_t ms = 0;
         if (!ParseIsoTime(text, &ms)) {
           return absl::InvalidArgumentError("expected an ISO 8601 time");
         }
         r->set_measured_unix_ms(ms);
         return absl::OkStatus();
       }},
      {"job_id", "job_id"},
      {"run_id", "run_id"},
      {"flopd_version", "flopd_version"},
      {"flopd_build", "flopd_build"},
      {"relative_noise_note", nullptr, [](const v1::Result& r) { return NoiseNote(r); }},
      {"noise_target", "noise_target"},
      {"tolerance", "verification.tolerance"},
      {"verification_detail", "verification.detail"},
      {"compute_s", "roofline.compute_seconds"},
      {"memory_s", "roofline.memory_seconds"},
      {"latency_threshold_s", "roofline.latency_threshold_seconds"},
      {"ceilings_measured_at", nullptr,
       [](const v1::Result& r) {
         return r.has_roofline() ? IsoTime(r.roofline().ceilings_measured_unix_ms())
                                 : std::string();
       },
       [](absl::string_view text, v1::Result* r) {
         int64_t ms = 0;
         if (!ParseIsoTime(text, &ms)) {
           return absl::InvalidArgumentError("expected an ISO 8601 time");
         }
         r->mutable_roofline()->set_ceilings_measured_unix_ms(ms);
         return absl::OkStatus();
       }},
      {"point_wall_s", "point_wall_seconds"},
      // The daemon's readings of the device, as a JSON object.
      {"observations", nullptr,
       [](const v1::Result& r) {
         if (r.observations().empty()) return std::string();
         std::string json;
         AppendJsonMap(r, v1::Result::descriptor()->FindFieldByName("observations"), &json);
         return json;
       },
       [](absl::string_view text, v1::Result* r) {
         absl::StatusOr<Value> json = ParseJson(text);
         if (!json.ok() || json->kind_case() != Value::kStructValue) {
           return absl::InvalidArgumentError("expected a JSON object");
         }
         for (const auto& [key, value] : StructFields(json->struct_value())) {
           if (value.kind_case() != Value::kStringValue) {
             return absl::InvalidArgumentError("expected string values");
           }
           (*r->mutable_observations())[key] = value.string_value();
         }
         return absl::OkStatus();
       }},
      // The raw per-execution times, space-separated, in the order taken.
      {"sample_seconds", nullptr,
       [](const v1::Result& r) {
         std::vector<std::string> parts;
         for (double s : r.sample_seconds()) parts.push_back(Number(s));
         return absl::StrJoin(parts, " ");
       },
       [](absl::string_view text, v1::Result* r) {
         for (absl::string_view part : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
           double s = 0;
           if (!absl::SimpleAtod(part, &s)) {
             return absl::InvalidArgumentError("expected numbers separated by spaces");
           }
           r->add_sample_seconds(s);
         }
         return absl::OkStatus();
       }},
  };
  return *columns;
}

absl::StatusOr<std::vector<v1::Result>> ParseCsv(absl::string_view text, absl::string_view name) {
  absl::StatusOr<std::vector<CsvRecord>> records = SplitCsv(text, name);
  if (!records.ok()) return records.status();
  std::vector<v1::Result> results;
  if (records->empty()) return results;
  const CsvRecord& header = records->front();
  std::vector<const Column*> columns;
  bool has_op = false, has_n = false;
  for (const std::string& title : header.fields) {
    const std::string key(absl::StripAsciiWhitespace(title));
    const Column* found = nullptr;
    for (const Column& c : Columns()) {
      if (key == c.name) found = &c;
    }
    has_op = has_op || key == "op";
    has_n = has_n || key == "n";
    columns.push_back(found);  // nullptr: a column this build does not read
  }
  if (!has_op || !has_n) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ":", header.line, ": not a flopd result: a CSV header naming the columns op and n "
        "was expected"));
  }
  for (size_t k = 1; k < records->size(); ++k) {
    const CsvRecord& record = (*records)[k];
    if (record.fields.size() != columns.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ":", record.line, ": not a flopd result: ", record.fields.size(),
          " fields where the header has ", columns.size()));
    }
    v1::Result result;
    for (size_t c = 0; c < columns.size(); ++c) {
      const Column* column = columns[c];
      if (column == nullptr || (column->path == nullptr && column->read == nullptr)) continue;
      const std::string& cell = record.fields[c];
      if (cell.empty()) continue;
      absl::Status st = column->path != nullptr ? ReadPath(cell, &result, column->path)
                                                : column->read(cell, &result);
      if (!st.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(name, ":", record.line,
                                                       ": not a flopd result: column ",
                                                       column->name, ": ", st.message(),
                                                       ", got '", cell, "'"));
      }
    }
    // An empty "no figure" cell is +infinity, where its message is there (an
    // absent message, such as a result without verification, is all empty).
    for (size_t c = 0; c < columns.size(); ++c) {
      const Column* column = columns[c];
      if (column == nullptr || !column->empty_is_infinite || !record.fields[c].empty()) continue;
      const std::vector<const FieldDescriptor*> fields = FieldPath(column->path);
      if (fields.size() > 1 && !result.GetReflection()->HasField(result, fields[0])) continue;
      (void)ReadPath("inf", &result, column->path);
    }
    if (result.op().empty() || result.n() <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ":", record.line, ": not a flopd result (no op or N)"));
    }
    results.push_back(std::move(result));
  }
  return results;
}

absl::Status CheckOpAndN(const v1::Result& r, absl::string_view where) {
  if (r.op().empty() || r.n() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": not a flopd result (no op or N)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::Result>> ParseJsonLines(absl::string_view text,
                                                       absl::string_view name) {
  std::vector<v1::Result> results;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    if (line.find_first_not_of(" \t\r") == absl::string_view::npos) continue;
    const std::string where = absl::StrCat(name, ":", number);
    absl::StatusOr<v1::Result> r = FromJsonLine(std::string(line));
    if (!r.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", r.status().message()));
    if (absl::Status st = CheckOpAndN(*r, where); !st.ok()) return st;
    results.push_back(*std::move(r));
  }
  return results;
}

absl::StatusOr<std::vector<v1::Result>> ParseJsonArray(absl::string_view text,
                                                       absl::string_view name) {
  absl::StatusOr<Value> json = ParseJson(text);
  if (!json.ok()) return absl::InvalidArgumentError(absl::StrCat(name, ": ", json.status().message()));
  if (json->kind_case() != Value::kListValue) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": not a flopd result: expected a JSON array of results"));
  }
  std::vector<v1::Result> results;
  for (int i = 0; i < json->list_value().values_size(); ++i) {
    const std::string where = absl::StrCat(name, ": result ", i + 1);
    v1::Result r;
    if (absl::Status st = JsonToMessage(json->list_value().values(i), &r, ""); !st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", st.message()));
    }
    if (absl::Status st = CheckOpAndN(r, where); !st.ok()) return st;
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace

absl::string_view ResultFormatName(ResultFormat format) {
  switch (format) {
    case ResultFormat::kTable: return "table";
    case ResultFormat::kCsv: return "csv";
    case ResultFormat::kJson: return "json";
    case ResultFormat::kJsonl: return "jsonl";
  }
  return "jsonl";
}

std::string NoiseNote(const v1::Result& r) {
  if (std::isfinite(r.relative_noise())) return "";
  if (r.samples() < 3) return "no noise figure: fewer than 3 samples";
  if (!(r.time().median() > 0)) return "no noise figure: the median is not positive";
  return "no noise figure";
}

std::string ToJsonLine(const v1::Result& result) {
  std::string json;
  AppendJsonMessage(result, &json);
  return json;
}

std::string ToJsonArray(const std::vector<v1::Result>& results) {
  std::vector<std::string> lines;
  for (const v1::Result& r : results) lines.push_back(ToJsonLine(r));
  return absl::StrCat("[\n", absl::StrJoin(lines, ",\n"), "\n]\n");
}

absl::StatusOr<v1::Result> FromJsonLine(const std::string& line) {
  absl::StatusOr<Value> json = ParseJson(line);
  if (!json.ok()) return json.status();
  v1::Result result;
  if (absl::Status st = JsonToMessage(*json, &result, ""); !st.ok()) return st;
  return result;
}

std::string CsvHeader() {
  std::vector<std::string> names;
  for (const Column& c : Columns()) names.push_back(c.name);
  return absl::StrJoin(names, ",");
}

std::string ToCsvRow(const v1::Result& r) {
  std::vector<std::string> fields;
  for (const Column& c : Columns()) {
    fields.push_back(CsvField(c.path != nullptr ? WritePath(r, c.path) : c.write(r)));
  }
  return absl::StrJoin(fields, ",");
}

std::optional<ResultFormat> DetectResultFormat(absl::string_view text, absl::string_view name) {
  if (absl::StartsWith(text, "\xEF\xBB\xBF")) text.remove_prefix(3);  // a UTF-8 BOM
  const size_t start = text.find_first_not_of(" \t\r\n");
  if (start != absl::string_view::npos) {
    if (text[start] == '[') return ResultFormat::kJson;
    if (text[start] == '{') return ResultFormat::kJsonl;
    const absl::string_view first_line = text.substr(start, text.find('\n', start) - start);
    bool has_op = false, has_n = false;
    for (absl::string_view title : absl::StrSplit(first_line, ',')) {
      title = absl::StripAsciiWhitespace(title);
      title = absl::StripSuffix(absl::StripPrefix(title, "\""), "\"");
      has_op = has_op || title == "op";
      has_n = has_n || title == "n";
    }
    if (has_op && has_n) return ResultFormat::kCsv;
  }
  if (absl::EndsWith(name, ".csv")) return ResultFormat::kCsv;
  if (absl::EndsWith(name, ".json")) return ResultFormat::kJson;
  if (absl::EndsWith(name, ".jsonl")) return ResultFormat::kJsonl;
  return std::nullopt;
}

absl::StatusOr<std::vector<v1::Result>> ParseResults(absl::string_view text,
                                                     absl::string_view name) {
  if (absl::StartsWith(text, "\xEF\xBB\xBF")) text.remove_prefix(3);
  if (text.find_first_not_of(" \t\r\n") == absl::string_view::npos) {
    return std::vector<v1::Result>{};
  }
  const std::optional<ResultFormat> format = DetectResultFormat(text, name);
  if (!format) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ":1: not a flopd result: neither JSON Lines, a JSON array nor CSV with op and n "
        "columns (what flopctl run --out writes)"));
  }
  switch (*format) {
    case ResultFormat::kCsv: return ParseCsv(text, name);
    case ResultFormat::kJson: return ParseJsonArray(text, name);
    default: return ParseJsonLines(text, name);
  }
}

absl::StatusOr<std::vector<v1::Result>> ReadResultsFile(const std::string& path) {
  std::string text;
  if (path == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::error_code error;
    if (std::filesystem::is_directory(path, error)) {
      return absl::NotFoundError(absl::StrCat(path, ": cannot read (a directory)"));
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot read (no such file?)"));
    std::ostringstream bytes;
    bytes << in.rdbuf();
    if (in.bad()) return absl::NotFoundError(absl::StrCat(path, ": cannot read"));
    text = bytes.str();
  }
  return ParseResults(text, path == "-" ? "stdin" : path);
}

}  // namespace flopd
