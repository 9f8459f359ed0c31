// Readers of the raw formats: each turns its input files into RawData (see docs/dataset.md,
// "Formats"). Malformed lines follow options.skip_bad_lines.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "data_pipeline/ingest_options.h"
#include "data_pipeline/raw_data.h"

namespace grec::data {

// ML-100K (u.data + u.item) or ML-1M/10M (ratings.dat + movies.dat); input = the folder.
RawData read_movielens(const IngestOptions& options);
// "user item item ..." lines; presplit *_train/_valid/_test siblings are detected.
RawData read_seqtxt(const IngestOptions& options);
// Amazon review dumps (2014 or 2018 JSON lines, plain or .gz) and their metadata.
RawData read_amazon(const IngestOptions& options);
// Delimited files with a column mapping, and an optional item table.
RawData read_csv(const IngestOptions& options);

// Item metadata as JSON lines ({"item_id": .., "title": .., ...}) or one JSON object mapping
// item ids to attribute lists (S3-Rec's item2attributes.json).
void read_item_jsonl(const std::string& path, bool skip_bad_lines, RawData* raw);

// Parses one Python literal (dict/list/tuple/str/number/True/False/None), as found in the 2014
// Amazon metadata dumps; throws std::invalid_argument with the reason.
nlohmann::json parse_python_literal(std::string_view text);
// A JSON value as item text: strings as is, lists joined (", "; nested lists " > "), numbers
// printed; "" for null.
std::string json_to_text(const nlohmann::json& v);

}  // namespace grec::data
