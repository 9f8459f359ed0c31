#!/usr/bin/env python3
"""Independent reference for grec's pre-tokeniser: splits each input line with the real regex
(Python's third-party `regex` module, which supports \\p{L}/\\p{N}) and prints the pieces.
Usage: pretokenize_reference.py {gpt2|qwen2|llama3} < input.json  (a JSON list of strings);
prints a JSON list of piece lists. Exit code 77 (MISSING_REGEX) when, and only when, the `regex`
module is missing: the C++ test skips on that code alone and fails on any other error."""
import json
import sys

MISSING_REGEX = 77  # also in tests/tokenizer/text_tokenizer_test.cc

try:
    import regex
except ModuleNotFoundError as e:
    if e.name != "regex":
        raise
    print("pretokenize_reference.py: the Python module 'regex' is missing "
          "(Debian: python3-regex)", file=sys.stderr)
    sys.exit(MISSING_REGEX)

PATTERNS = {
    "gpt2": r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
    "qwen2": r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
    "llama3": r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
}

pattern = regex.compile(PATTERNS[sys.argv[1]])
texts = json.load(sys.stdin)
print(json.dumps([pattern.findall(t) for t in texts]))
