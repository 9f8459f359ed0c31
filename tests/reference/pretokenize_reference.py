#!/usr/bin/env python3
"""Independent reference for grec's pre-tokeniser: splits each input line with the real regex
(Python's third-party `regex` module, which supports \\p{L}/\\p{N}) and prints the pieces.
Usage: pretokenize_reference.py {gpt2|qwen2|llama3} < input.json  (a JSON list of strings);
prints a JSON list of piece lists. Exit code 3 when the `regex` module is missing."""
import json
import sys

try:
    import regex
except ImportError:
    sys.exit(3)

PATTERNS = {
    "gpt2": r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
    "qwen2": r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
    "llama3": r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
}

pattern = regex.compile(PATTERNS[sys.argv[1]])
texts = json.load(sys.stdin)
print(json.dumps([pattern.findall(t) for t in texts]))
