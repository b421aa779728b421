"""The generated text (listing titles and descriptions, thread subjects, message bodies): drawn from
per-category words and a shared Zipf-weighted vocabulary, made once in Python as a few thousand
distinct texts per kind and length, then looked up by a hash of the row's number inside PostgreSQL."""

from __future__ import annotations

import random

from bench.generate_sql import pick

CATEGORIES = ["grooming", "training", "veterinary", "transport", "boarding"]
#: Listing text is drawn from its category's own words and a shared vocabulary in which a few
#: words are common and most are rare (Zipf-like weights by rank), as in real listings: a two-word
#: query matches a few percent of them, not most (with one small vocabulary for everything, every
#: listing contained "puppy" three times in four).
CATEGORY_WORDS = {
    "grooming": "grooming groomer bath nails haircut trim brushing deshedding shampoo coat styling spa",
    "training": "training trainer obedience agility leash recall socialization behavior class manners crate tricks",
    "veterinary": "vet veterinary checkup vaccines vaccination clinic dental exam microchip wellness surgery health",
    "transport": "transport delivery travel flight nanny pickup crate ground airport relocation shipping courier",
    "boarding": "boarding kennel daycare overnight sitting stay suite playtime walks housing vacation care",
}
COMMON_WORDS = (
    "dog cat pet home family puppy friendly experienced kitten small large service local certified licensed "
    "gentle safe happy quality professional senior young breed poodle retriever shepherd bulldog terrier "
    "siamese persian ragdoll maine coon beagle husky corgi labrador spaniel schnauzer dachshund boxer collie "
    "weekend daily weekly appointment available insured clean calm patient loving caring trusted affordable "
    "premium mobile indoor outdoor yard fenced heated cooled organic natural hypoallergenic"
).split()
_COMMON_WEIGHTS = [1 / (rank + 1) for rank in range(len(COMMON_WORDS))]
#: Distinct texts of each length the rows draw from (by a hash of their number): generating every
#: text in Python would be most of the run at full scale.
TEXTS = 20_000


def _text(rng: random.Random, n: int, category: str | None = None) -> str:
    """n words: with a category, four in ten from its own words, the rest from the shared ones."""
    own = CATEGORY_WORDS[category].split() if category else []
    return " ".join(
        rng.choice(own) if own and rng.random() < 0.4 else rng.choices(COMMON_WORDS, _COMMON_WEIGHTS)[0]
        for _ in range(n)
    )


def make_texts(rng: random.Random) -> dict[tuple[int, int], list[str]]:
    """{(kind, words): TEXTS texts}. Kind 0: general text (thread subjects, messages); kind i:
    listing text of CATEGORIES[i - 1]."""
    texts = {(0, n): [_text(rng, n) for _ in range(TEXTS)] for n in (3, 12)}
    texts |= {
        (kind, n): [_text(rng, n, category) for _ in range(TEXTS)]
        for kind, category in enumerate(CATEGORIES, start=1)
        for n in (4, 30)
    }
    return texts


def load_texts(cursor, texts: dict[tuple[int, int], list[str]]) -> None:
    """A temporary lookup table bench_texts(kind, words, n, body) on this connection."""
    cursor.execute(
        "CREATE TEMPORARY TABLE bench_texts (kind int, words int, n int, body text, PRIMARY KEY (kind, words, n))"
    )
    with cursor.cursor.copy("COPY bench_texts (kind, words, n, body) FROM STDIN") as copy:
        for (kind, words), bodies in texts.items():
            for n, body in enumerate(bodies):
                copy.write_row((kind, words, n, body))
    cursor.execute("ANALYZE bench_texts")


def text(words: int, row: str, kind: str = "0") -> str:
    """The SQL expression of a text of `words` words (of `kind`) for the row numbered `row`."""
    return (
        f"(SELECT body FROM bench_texts WHERE kind = {kind} AND words = {words}"
        f" AND n = {pick(f'{row} * 31 + {words}', TEXTS)})"
    )
