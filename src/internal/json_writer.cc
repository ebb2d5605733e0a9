#include "internal/json_writer.h"

#include <charconv>
#include <cmath>

#include "internal/time_format.h"
#include "internal/unicode.h"

namespace authrouter::internal {
namespace {

// kNeedsEscape[b] is nonzero for the bytes the fast path must stop at: controls, '"', '\\', and
// every non-ASCII byte (checked for UTF-8 well-formedness).
constexpr auto kNeedsEscape = [] {
  struct Table {
    bool v[256] = {};
  } t;
  for (int i = 0; i < 0x20; ++i) t.v[i] = true;
  t.v[static_cast<unsigned char>('"')] = true;
  t.v[static_cast<unsigned char>('\\')] = true;
  for (int i = 0x80; i < 0x100; ++i) t.v[i] = true;
  return t;
}();

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

}  // namespace

namespace {

void AppendEscaped(std::string* out, std::string_view s, bool go_compatible) {
  size_t i = 0;
  while (i < s.size()) {
    size_t run = i;
    while (run < s.size() && !kNeedsEscape.v[static_cast<unsigned char>(s[run])] &&
           !(go_compatible && (s[run] == '<' || s[run] == '>' || s[run] == '&'))) {
      ++run;
    }
    out->append(s.data() + i, run - i);
    i = run;
    if (i == s.size()) break;
    const auto c = static_cast<unsigned char>(s[i]);
    if (go_compatible && (c == '<' || c == '>' || c == '&')) {
      out->append(c == '<' ? "\\u003c" : c == '>' ? "\\u003e" : "\\u0026");
      ++i;
      continue;
    }
    if (c >= 0x80) {
      const size_t len = Utf8SequenceLength(s.substr(i));
      if (go_compatible && len == 3 && c == 0xE2 && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
          (static_cast<unsigned char>(s[i + 2]) == 0xA8 ||
           static_cast<unsigned char>(s[i + 2]) == 0xA9)) {
        out->append(static_cast<unsigned char>(s[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029");
        i += 3;
        continue;
      }
      if (len == 0) {
        out->append(kReplacement);
        ++i;
      } else {
        out->append(s.data() + i, len);
        i += len;
      }
      continue;
    }
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default: {
        static constexpr char kHex[] = "0123456789abcdef";
        const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out->append(esc, sizeof esc);
      }
    }
    ++i;
  }
}

}  // namespace

void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  AppendEscaped(out, s, false);
  out->push_back('"');
}

void AppendGoJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  AppendEscaped(out, s, true);
  out->push_back('"');
}

void JsonWriter::BeforeValue() {
  if (need_comma_) out_->push_back(',');
  need_comma_ = true;
}

void JsonWriter::BeginObject() {
  BeforeValue();
  out_->push_back('{');
  need_comma_ = false;
}

void JsonWriter::EndObject() {
  out_->push_back('}');
  need_comma_ = true;
}

void JsonWriter::BeginArray() {
  BeforeValue();
  out_->push_back('[');
  need_comma_ = false;
}

void JsonWriter::EndArray() {
  out_->push_back(']');
  need_comma_ = true;
}

void JsonWriter::Key(std::string_view key) {
  BeforeValue();
  AppendJsonString(out_, key);
  out_->push_back(':');
  need_comma_ = false;
}

void JsonWriter::String(std::string_view s) {
  BeforeValue();
  AppendJsonString(out_, s);
}

void JsonWriter::Int(int64_t v) {
  BeforeValue();
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_->append(buf, r.ptr);
}

void JsonWriter::Uint(uint64_t v) {
  BeforeValue();
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_->append(buf, r.ptr);
}

void JsonWriter::Double(double v) {
  BeforeValue();
  if (!std::isfinite(v)) {
    out_->append("null");
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_->append(buf, r.ptr);
}

void JsonWriter::Bool(bool v) {
  BeforeValue();
  out_->append(v ? "true" : "false");
}

void JsonWriter::Null() {
  BeforeValue();
  out_->append("null");
}

void JsonWriter::Raw(std::string_view json) {
  BeforeValue();
  out_->append(json);
}

void JsonWriter::Time(absl::Time t) {
  char buf[kRfc3339BufferSize];
  String(std::string_view(buf, FormatRfc3339To(t, buf)));
}

}  // namespace authrouter::internal
