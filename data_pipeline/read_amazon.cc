// Amazon review dumps (McAuley et al.): JSON lines, plain or gzip, 2014 and 2018 variants.
// Reviews: reviewerID, asin, unixReviewTime, overall (rating), reviewText (kept as the
// interaction field "review"). Metadata (--items): title, brand, categories (2014: list of
// lists) or category (2018: list), description (string or list); 2014 metadata lines are often
// Python dict literals rather than JSON, and both are accepted.
#include "core/error.h"
#include "data_pipeline/readers.h"
#include "data_pipeline/text_input.h"

namespace grec::data {

namespace {

bool parse_object(std::string_view line, nlohmann::json* out) {
  *out = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
  if (!out->is_discarded() && out->is_object()) return true;
  try {
    *out = parse_python_literal(line);
  } catch (const std::exception&) {
    return false;
  }
  return out->is_object();
}

std::string as_id(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  return std::string();
}

}  // namespace

RawData read_amazon(const IngestOptions& o) {
  RawData raw;
  raw.source = "amazon:" + o.input;
  const std::string text = read_input(o.input);
  BadLines bad(o.input, o.skip_bad_lines);
  LineCursor lines(text);
  std::string_view line;
  nlohmann::json j;
  int has_rating = -1;  // decided by the first review
  auto& reviews = raw.event_text["review"];
  while (lines.next(&line)) {
    if (trim(line).empty()) continue;
    if (!parse_object(line, &j)) {
      bad.fail(lines.line_no(), "not a JSON object");
      continue;
    }
    const char* missing = nullptr;
    for (const char* k : {"reviewerID", "asin", "unixReviewTime"}) {
      if (!j.contains(k) || j[k].is_null()) {
        missing = k;
        break;
      }
    }
    if (missing) {
      bad.fail(lines.line_no(), fmt::format("missing field '{}'", missing));
      continue;
    }
    const std::string user = as_id(j["reviewerID"]), item = as_id(j["asin"]);
    const auto& t = j["unixReviewTime"];
    int64_t ts = 0;
    if (t.is_number_integer()) {
      ts = t.get<int64_t>();
    } else if (!(t.is_string() && parse_i64(t.get<std::string>(), &ts))) {
      bad.fail(lines.line_no(), "field 'unixReviewTime' is not an integer");
      continue;
    }
    if (user.empty() || item.empty()) {
      bad.fail(lines.line_no(), "field 'reviewerID' or 'asin' is empty");
      continue;
    }
    if (has_rating < 0) has_rating = j.contains("overall") ? 1 : 0;
    float rating = 0;
    if (has_rating) {
      if (!j.contains("overall") || !j["overall"].is_number()) {
        bad.fail(lines.line_no(), "missing field 'overall' (a number)");
        continue;
      }
      rating = j["overall"].get<float>();
      raw.rating.push_back(rating);
    }
    raw.user.push_back(raw.users.id(user));
    raw.item.push_back(raw.items.id(item));
    raw.time.push_back(ts);
    const auto r = j.find("reviewText");
    reviews.push_back(r != j.end() && r->is_string() ? to_utf8(r->get<std::string>()) : "");
  }
  raw.skipped_lines += bad.skipped();
  bool any_review = false;
  for (const auto& r : reviews) {
    if (!r.empty()) {
      any_review = true;
      break;
    }
  }
  if (!any_review) raw.event_text.clear();
  if (!o.items.empty()) read_item_jsonl(o.items, o.skip_bad_lines, &raw);
  // Keep the Amazon metadata's text fields only; drop bulky or non-text ones (imUrl, related,
  // salesRank, price, also_buy, ...).
  for (auto& kv : raw.item_meta) {
    for (auto it = kv.second.begin(); it != kv.second.end();) {
      const std::string& k = it->first;
      const bool keep = k == "title" || k == "brand" || k == "categories" || k == "description";
      it = keep ? std::next(it) : kv.second.erase(it);
    }
  }
  return raw;
}

}  // namespace grec::data
