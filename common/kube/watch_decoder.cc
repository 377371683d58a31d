#include "common/kube/watch_decoder.h"

#include <cctype>

namespace kfaas::kube {
namespace {

std::string Excerpt(std::string_view s) {
  constexpr size_t kMax = 120;
  std::string out(s.substr(0, kMax));
  if (s.size() > kMax) out += "...";
  return out;
}

}  // namespace

absl::StatusOr<WatchEvent> ParseWatchEvent(std::string_view document) {
  Json j = Json::parse(document, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return absl::DataLossError("watch: malformed event (invalid JSON): " + Excerpt(document));
  }
  if (!j.is_object()) {
    return absl::DataLossError("watch: malformed event (not a JSON object): " + Excerpt(document));
  }
  auto type_it = j.find("type");
  if (type_it == j.end() || !type_it->is_string()) {
    return absl::DataLossError("watch: malformed event (no \"type\"): " + Excerpt(document));
  }
  const std::string& type = type_it->get_ref<const std::string&>();
  WatchEvent ev;
  if (type == "ADDED") {
    ev.type = WatchEvent::Type::kAdded;
  } else if (type == "MODIFIED") {
    ev.type = WatchEvent::Type::kModified;
  } else if (type == "DELETED") {
    ev.type = WatchEvent::Type::kDeleted;
  } else if (type == "BOOKMARK") {
    ev.type = WatchEvent::Type::kBookmark;
  } else if (type == "ERROR") {
    ev.type = WatchEvent::Type::kError;
  } else {
    return absl::DataLossError("watch: unknown event type \"" + type + "\"");
  }
  auto obj_it = j.find("object");
  if (obj_it == j.end() || !obj_it->is_object()) {
    return absl::DataLossError("watch: malformed " + type +
                               " event (no \"object\"): " + Excerpt(document));
  }
  ev.object = std::move(*obj_it);
  return ev;
}

absl::Status WatchDecoder::Feed(std::string_view chunk, std::vector<WatchEvent>* out) {
  if (!error_.ok()) return error_;
  // Drop consumed bytes before growing, so the buffer holds at most one partial document.
  if (start_ > 0 && (start_ >= buf_.size() || start_ > 64 * 1024)) {
    buf_.erase(0, start_);
    pos_ -= start_;
    start_ = 0;
  }
  buf_.append(chunk);
  const size_t n = buf_.size();
  while (pos_ < n) {
    char c = buf_[pos_];
    if (!started_) {
      if (std::isspace(static_cast<unsigned char>(c))) {
        ++pos_;
        start_ = pos_;
        continue;
      }
      if (c != '{') {
        size_t eol = buf_.find('\n', pos_);
        error_ = absl::DataLossError(
            "watch: malformed event (expected '{'): " +
            Excerpt(std::string_view(buf_).substr(
                pos_, eol == std::string::npos ? std::string::npos : eol - pos_)));
        return error_;
      }
      started_ = true;
      start_ = pos_;
      depth_ = 1;
      ++pos_;
      continue;
    }
    ++pos_;
    if (in_string_) {
      if (escape_) {
        escape_ = false;
      } else if (c == '\\') {
        escape_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
      continue;
    }
    if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      ++depth_;
    } else if (c == '}' || c == ']') {
      if (--depth_ == 0) {
        // The limit holds however the document was chunked (here: it completed in one Feed).
        if (pos_ - start_ > max_document_bytes_) break;
        auto ev = ParseWatchEvent(std::string_view(buf_).substr(start_, pos_ - start_));
        started_ = false;
        start_ = pos_;
        if (!ev.ok()) {
          error_ = ev.status();
          return error_;
        }
        out->push_back(std::move(*ev));
      }
    }
  }
  if (started_ && pos_ - start_ > max_document_bytes_) {
    error_ = absl::ResourceExhaustedError("watch: event larger than " +
                                          std::to_string(max_document_bytes_) + " bytes");
    return error_;
  }
  return absl::OkStatus();
}

absl::Status WatchDecoder::Finish() const {
  if (!error_.ok()) return error_;
  if (started_) {
    return absl::DataLossError("watch: stream ended inside an event (" +
                               std::to_string(buffered()) + " bytes of an incomplete event)");
  }
  return absl::OkStatus();
}

}  // namespace kfaas::kube
