"""Build ``index/data/background_zipf.tsv``: how common each stemmed English word is in general.

    pip install wordfreq && python -m bench.build_background

Corpus idf is unreliable on a one-article collection (every word is "rare"), so the refusal
model and lexical scores also weigh question words by general English frequency. The table is
built once from wordfreq's English list and shipped, so nothing is downloaded at run time.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

from index.text import fold, stem

OUT = Path(__file__).resolve().parents[1] / "index" / "data" / "background_zipf.tsv"


def main(words: int = 60000) -> None:
    from wordfreq import top_n_list, word_frequency

    totals: dict[str, float] = defaultdict(float)
    for word in top_n_list("en", words):
        if word.isalpha():
            totals[stem(fold(word))] += word_frequency(word, "en")
    rows = sorted(totals.items(), key=lambda kv: -kv[1])
    with OUT.open("w", encoding="utf-8") as out:
        out.write("# stem\tzipf (log10 of frequency per billion words), from wordfreq's English list\n")
        for term, freq in rows:
            out.write(f"{term}\t{math.log10(freq * 1e9):.2f}\n")
    print(f"wrote {len(rows)} stems to {OUT}")


if __name__ == "__main__":
    main()
