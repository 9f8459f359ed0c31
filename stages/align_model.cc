// The LM align starts from; see align_model.h.
#include "stages/align_model.h"

#include <algorithm>
#include <regex>

#include <torch/torch.h>

#include "core/error.h"
#include "dist/communicator.h"
#include "model/lora.h"

namespace grec::stages {
namespace {

// Item text and the instruction text without semantic-ID tokens: what the from-scratch
// tokenizer learns its pieces from (the ID tokens are added as whole tokens afterwards).
std::vector<std::string> tokenizer_corpus(const ItemIndex& index,
                                          const std::vector<data::Instruction>& instructions) {
  std::vector<std::string> texts;
  for (const auto& [field, values] : index.dataset.item_text) {
    for (const std::string& v : values) {
      if (!v.empty()) texts.push_back(v);
    }
  }
  const std::regex id_token("<[a-z]_[0-9]+>");
  const size_t stride = std::max<size_t>(1, instructions.size() / 20000);
  for (size_t i = 0; i < instructions.size(); i += stride) {
    texts.push_back(std::regex_replace(instructions[i].prompt + instructions[i].response, id_token, " "));
  }
  return texts;
}

model::CausalLMConfig scratch_config(const Config& config, const tok::TextTokenizer& tokenizer,
                                     int64_t vocab, int64_t max_len) {
  model::CausalLMConfig c;
  c.vocab_size = vocab;
  c.hidden_size = config.get_int("align.model.hidden");
  c.num_hidden_layers = config.get_int("align.model.layers");
  c.num_attention_heads = config.get_int("align.model.heads");
  c.num_key_value_heads = config.get_int("align.model.kv_heads");
  c.intermediate_size = config.get_int("align.model.intermediate");
  c.attention_dropout = c.residual_dropout = config.get_float("align.model.dropout");
  c.max_position_embeddings = std::max<int64_t>(512, max_len);
  c.bos_token_id = tokenizer.bos_id();
  c.eos_token_id = tokenizer.eos_id();
  c.pad_token_id = tokenizer.pad_id();
  if (c.hidden_size % c.num_attention_heads != 0 || c.num_attention_heads % c.num_key_value_heads != 0) {
    user_error("align.model: hidden {} must divide by heads {} and heads by kv_heads {}",
               c.hidden_size, c.num_attention_heads, c.num_key_value_heads);
  }
  return c;
}

}  // namespace

AlignModel make_align_model(train::StageContext& ctx, const ItemIndex& index,
                            const std::vector<data::Instruction>& instructions,
                            const std::string& tokenizer_dir) {
  const Config& config = ctx.config;
  const uint64_t seed = static_cast<uint64_t>(config.get_int("align.train.seed"));
  const int64_t max_len = config.get_int("align.max_len");
  AlignModel m;
  const std::string base = config.get_string("align.model.path");
  if (!base.empty()) {
    m.tokenizer = tok::load_tokenizer(base);
    m.lm = model::load_hf(base);
  } else {
    if (ctx.is_root()) {
      tok::train_sentencepiece_bpe(tokenizer_corpus(index, instructions),
                                   config.get_int("align.tokenizer.vocab_size"), tokenizer_dir, seed);
    }
    ctx.comm.barrier();
    m.tokenizer = tok::load_tokenizer(tokenizer_dir);
  }
  m.vocab = tok::add_semantic_tokens(*m.tokenizer, index.ids.level_sizes,
                                     m.lm ? m.lm->config().vocab_size : 0);
  if (m.lm) {
    m.lm->add_token_rows(m.vocab.first_new_id, m.vocab.tokenizer_vocab, m.vocab.model_vocab, seed);
  } else {
    torch::manual_seed(seed);  // the same initial weights on every rank
    m.lm = model::CausalLM(scratch_config(config, *m.tokenizer, m.vocab.model_vocab, max_len));
  }
  const int64_t lora_r = config.get_int("align.lora.r");
  if (lora_r > 0) {
    model::LoraOptions lo;
    lo.r = lora_r;
    lo.alpha = config.get_float("align.lora.alpha");
    lo.dropout = config.get_float("align.lora.dropout");
    lo.targets = config.get_string_list("align.lora.targets");
    lo.train_embeddings = lo.train_lm_head = config.get_bool("align.lora.train_embeddings");
    lo.seed = seed;
    model::apply_lora(m.lm, lo);
  }
  return m;
}

std::vector<data::TokenizedSample> tokenize_for(const AlignModel& model,
                                                const std::vector<data::Instruction>& instructions,
                                                int64_t max_len,
                                                std::map<std::string, int64_t>* too_long) {
  const tok::TextTokenizer& t = *model.tokenizer;
  auto encode = [&](const std::string& text) { return t.encode(text, false); };
  return data::tokenize_instructions(instructions, encode, t.bos_id(), t.eos_id(), max_len, too_long);
}

}  // namespace grec::stages
