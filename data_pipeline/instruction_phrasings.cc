// The task phrasings of the LC-Rec instruction mixture (see instructions.h). Several per task so
// that the model learns the task rather than one sentence; phrasing 0 of seqrec is the evaluation
// prompt, so it is the plainest. Placeholders: {history} (comma-separated item IDs or quoted
// texts, oldest first), {item} (one item's ID), {text} (one item's text), {query}.
#include <map>

#include "core/error.h"
#include "data_pipeline/instructions.h"

namespace grec::data {
namespace {

std::map<std::string, std::vector<std::string>> make_phrasings() {
  std::map<std::string, std::vector<std::string>> p;
  p["seqrec"] = {
      "A user interacted with these items, oldest first: {history}. Predict the item the user "
      "will interact with next.",
      "Here is a user's interaction history in chronological order: {history}. Which item is the "
      "user most likely to choose next?",
      "Given the items a user has engaged with so far ({history}, listed from earliest to "
      "latest), recommend the single next item.",
      "Interaction log of a user, earliest first: {history}. Name the item that should come "
      "next in this sequence.",
      "Based on the chronological sequence {history}, suggest one item this user would want "
      "next.",
  };
  p["item2index"] = {
      "Which item is described by the following text? \"{text}\"",
      "Give the item identifier of the item with this description: \"{text}\"",
      "An item is described as \"{text}\". Output its item ID.",
      "Find the item whose text is \"{text}\" and answer with its identifier.",
      "Map this item text to the item's ID: \"{text}\"",
  };
  p["index2item"] = {
      "Describe the item {item}.",
      "What is the text of the item with identifier {item}?",
      "Give the description of item {item}.",
      "Item {item} is in the catalogue. What is it?",
      "Write the text that belongs to the item identified by {item}.",
  };
  p["fusionseqrec_id2text"] = {
      "A user interacted with these items, oldest first: {history}. Describe the item the user "
      "will interact with next.",
      "Given the chronological history {history}, write the text of the item this user is "
      "likely to choose next.",
      "Here are the items a user engaged with, from earliest to latest: {history}. What is the "
      "next item? Answer with its description.",
      "From the interaction sequence {history}, predict the next item and give its text.",
  };
  p["fusionseqrec_text2id"] = {
      "A user interacted with the following items, oldest first: {history}. Give the ID of the "
      "item the user will interact with next.",
      "These are descriptions of the items a user chose, in order: {history}. Which item ID "
      "comes next?",
      "Based on a user's history of items {history} (earliest first), recommend the next item "
      "by its identifier.",
      "Item history described in words, chronological: {history}. Output the identifier of the "
      "most likely next item.",
  };
  p["itemsearch"] = {
      "A user who interacted with {history} (oldest first) is looking for: \"{query}\". Which "
      "item fits?",
      "Search request: \"{query}\". The user's earlier items, in order, were {history}. Return "
      "the matching item ID.",
      "Considering the user's history {history} and their intention \"{query}\", find the item "
      "they want.",
      "The user says: \"{query}\". Given what they interacted with before ({history}), which "
      "item should be retrieved?",
  };
  p["preferenceobtain"] = {
      "A user interacted with these items, oldest first: {history}. Summarise the user's "
      "preferences.",
      "From the chronological history {history}, describe what this user likes.",
      "Here is a user's item sequence, earliest first: {history}. What are the user's tastes?",
      "Infer the user's preferences from the items they engaged with: {history}.",
  };
  return p;
}

// One short phrasing per kind: the fewest instruction tokens per sample (a small model trained
// from scratch gains nothing from varied wording, and every token saved is throughput).
std::map<std::string, std::vector<std::string>> make_compact_phrasings() {
  std::map<std::string, std::vector<std::string>> p;
  p["seqrec"] = {"History: {history}. Next item:"};
  p["item2index"] = {"Item text: \"{text}\". Item ID:"};
  p["index2item"] = {"Item {item}. Text:"};
  p["fusionseqrec_id2text"] = {"History: {history}. Next item's text:"};
  p["fusionseqrec_text2id"] = {"History (texts): {history}. Next item ID:"};
  p["itemsearch"] = {"History: {history}. Query: \"{query}\". Item ID:"};
  p["preferenceobtain"] = {"History: {history}. Preferences:"};
  return p;
}

}  // namespace

const std::vector<std::string>& compact_phrasings(const std::string& kind) {
  static const std::map<std::string, std::vector<std::string>> phrasings = make_compact_phrasings();
  auto it = phrasings.find(kind);
  if (it == phrasings.end()) user_error("no compact instruction phrasing for task kind '{}'", kind);
  return it->second;
}

const std::vector<std::string>& instruction_phrasings(const std::string& kind) {
  // Immutable after first use (thread-safe static initialisation), so not mutable global state.
  static const std::map<std::string, std::vector<std::string>> phrasings = make_phrasings();
  auto it = phrasings.find(kind);
  if (it == phrasings.end()) user_error("no instruction phrasings for task kind '{}'", kind);
  return it->second;
}

}  // namespace grec::data
