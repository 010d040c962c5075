"""Words of the synthetic shop: the category tree, product nouns, brand, people and place names.

Everything here is fixed data plus small functions that turn random draws into strings. The
category tree has two levels (``"home/kitchen"``); each leaf has its own nouns and a typical price,
each top category its own adjectives, materials and uses, so product descriptions carry the signal
a text model needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Leaf:
    """One leaf of the category tree: nouns used in titles and its typical (median) price."""

    top: str
    sub: str
    nouns: tuple[str, ...]
    median_price: float
    price_sigma: float

    @property
    def path(self) -> str:
        return f"{self.top}/{self.sub}"


def _leaves(top: str, spec: dict[str, tuple[tuple[str, ...], float, float]]) -> list[Leaf]:
    return [Leaf(top, sub, nouns, med, sig) for sub, (nouns, med, sig) in spec.items()]


LEAVES: tuple[Leaf, ...] = tuple(
    _leaves(
        "electronics",
        {
            "phones": (("smartphone", "phone case", "charging cable", "power bank"), 45.0, 1.1),
            "laptops": (("laptop", "notebook computer", "chromebook", "laptop stand"), 480.0, 0.6),
            "audio": (("headphones", "earbuds", "speaker", "soundbar"), 65.0, 0.8),
            "cameras": (("camera", "zoom lens", "tripod", "action camera"), 220.0, 0.8),
            "accessories": (("keyboard", "mouse", "usb hub", "monitor"), 35.0, 0.9),
        },
    )
    + _leaves(
        "home",
        {
            "kitchen": (("frying pan", "chef knife", "blender", "kettle", "toaster"), 32.0, 0.7),
            "furniture": (("sofa", "armchair", "bookshelf", "dining table", "desk"), 240.0, 0.7),
            "bedding": (("duvet", "pillow", "sheet set", "blanket"), 38.0, 0.6),
            "decor": (("lamp", "mirror", "vase", "picture frame", "candle"), 24.0, 0.8),
            "storage": (("storage box", "shelf unit", "laundry basket", "organiser"), 19.0, 0.6),
        },
    )
    + _leaves(
        "fashion",
        {
            "women": (("dress", "blouse", "skirt", "coat"), 42.0, 0.6),
            "men": (("shirt", "chinos", "jacket", "jumper"), 42.0, 0.6),
            "shoes": (("trainers", "boots", "sandals", "loafers"), 58.0, 0.5),
            "bags": (("backpack", "handbag", "tote bag", "wallet"), 38.0, 0.7),
            "jewellery": (("necklace", "ring", "bracelet", "earrings", "watch"), 48.0, 0.9),
        },
    )
    + _leaves(
        "beauty",
        {
            "skincare": (("moisturiser", "serum", "cleanser", "sunscreen"), 17.0, 0.6),
            "makeup": (("lipstick", "mascara", "foundation", "eyeshadow palette"), 14.0, 0.5),
            "fragrance": (("perfume", "eau de toilette", "body mist"), 44.0, 0.6),
            "haircare": (("shampoo", "conditioner", "hair dryer", "hair oil"), 11.0, 0.8),
        },
    )
    + _leaves(
        "sports",
        {
            "fitness": (("yoga mat", "dumbbells", "resistance band", "kettlebell"), 24.0, 0.7),
            "outdoor": (("tent", "sleeping bag", "hiking boots", "rucksack"), 70.0, 0.7),
            "cycling": (("bike helmet", "bike light", "cycling jersey", "bike lock"), 33.0, 0.6),
            "running": (
                ("running shoes", "running shorts", "sports watch", "water bottle"),
                38.0,
                0.7,
            ),
        },
    )
    + _leaves(
        "books",
        {
            "fiction": (("novel", "thriller", "fantasy saga", "crime novel"), 9.0, 0.3),
            "nonfiction": (("biography", "cookbook", "history book", "self help guide"), 13.0, 0.4),
            "children": (("picture book", "activity book", "bedtime stories"), 7.0, 0.4),
            "comics": (("graphic novel", "manga volume", "comic collection"), 12.0, 0.4),
        },
    )
    + _leaves(
        "toys",
        {
            "games": (("board game", "card game", "party game"), 21.0, 0.5),
            "building": (("building set", "construction kit", "marble run"), 29.0, 0.7),
            "dolls": (("doll", "doll house", "action figure", "plush toy"), 17.0, 0.6),
            "outdoor_play": (("trampoline", "scooter", "paddling pool", "swing set"), 55.0, 0.8),
        },
    )
    + _leaves(
        "grocery",
        {
            "snacks": (("crisps", "chocolate bar", "granola", "mixed nuts"), 2.8, 0.4),
            "drinks": (("coffee beans", "green tea", "sparkling water", "orange juice"), 5.5, 0.5),
            "pantry": (("olive oil", "pasta", "basmati rice", "spice blend"), 3.8, 0.5),
            "organic": (("organic oats", "organic honey", "organic lentils"), 4.5, 0.4),
        },
    )
    + _leaves(
        "garden",
        {
            "tools": (("spade", "pruning shears", "garden hose", "lawn mower"), 28.0, 0.9),
            "plants": (("rose bush", "herb kit", "seed collection", "flower bulbs"), 9.0, 0.6),
            "garden_furniture": (("garden bench", "parasol", "patio set"), 120.0, 0.7),
        },
    )
    + _leaves(
        "pets",
        {
            "dogs": (("dog food", "dog lead", "dog bed", "chew toy"), 19.0, 0.6),
            "cats": (("cat food", "scratching post", "cat litter", "cat toy"), 14.0, 0.6),
            "small_pets": (("hamster cage", "bird seed", "fish tank"), 24.0, 0.8),
        },
    )
)
"""Leaves of the category tree, grouped by top category."""

CONSUMABLE_CYCLE_DAYS: dict[str, float] = {
    "grocery/snacks": 10.0,
    "grocery/drinks": 14.0,
    "grocery/pantry": 21.0,
    "grocery/organic": 21.0,
    "beauty/skincare": 30.0,
    "beauty/makeup": 45.0,
    "beauty/haircare": 30.0,
    "beauty/fragrance": 90.0,
    "pets/dogs": 30.0,
    "pets/cats": 30.0,
    "pets/small_pets": 45.0,
}
"""Consumable leaves and their typical repurchase cycle in days (a bag of coffee lasts two weeks)."""

DURABLE_CYCLE_DAYS = 730.0
"""Repurchase cycle of every other leaf: a sofa is not bought again for years."""

TOP_CATEGORIES: tuple[str, ...] = tuple(dict.fromkeys(leaf.top for leaf in LEAVES))
"""Top-level categories, in order."""

TOP_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "electronics": {
        "adjectives": ("wireless", "smart", "compact", "portable", "digital", "fast charging"),
        "materials": ("aluminium", "plastic", "carbon fibre", "glass"),
        "uses": ("for work and gaming", "for streaming on the go", "for the home office"),
    },
    "home": {
        "adjectives": ("cosy", "modern", "rustic", "minimalist", "stackable", "classic"),
        "materials": ("oak", "stainless steel", "ceramic", "cotton", "linen"),
        "uses": ("for everyday cooking", "for small flats", "for a calm bedroom"),
    },
    "fashion": {
        "adjectives": ("slim fit", "relaxed", "vintage", "tailored", "casual", "elegant"),
        "materials": ("denim", "wool", "leather", "silk", "organic cotton"),
        "uses": ("for evenings out", "for the office", "for weekend wear"),
    },
    "beauty": {
        "adjectives": ("hydrating", "vegan", "fragrance free", "long lasting", "gentle", "radiant"),
        "materials": ("aloe vera", "shea butter", "vitamin c", "argan oil"),
        "uses": ("for sensitive skin", "for daily routines", "for a natural glow"),
    },
    "sports": {
        "adjectives": ("lightweight", "breathable", "waterproof", "ergonomic", "reflective"),
        "materials": ("nylon", "neoprene", "mesh", "rubber"),
        "uses": ("for marathon training", "for mountain trails", "for home workouts"),
    },
    "books": {
        "adjectives": ("bestselling", "illustrated", "gripping", "heartwarming", "acclaimed"),
        "materials": ("paperback", "hardback", "large print"),
        "uses": ("for long journeys", "for book clubs", "for curious readers"),
    },
    "toys": {
        "adjectives": ("colourful", "educational", "interactive", "creative", "sturdy"),
        "materials": ("wooden", "recycled plastic", "soft fabric"),
        "uses": ("for ages three and up", "for family game night", "for rainy afternoons"),
    },
    "grocery": {
        "adjectives": ("fresh", "crunchy", "fair trade", "wholegrain", "sugar free", "roasted"),
        "materials": ("single origin", "small batch", "family pack"),
        "uses": ("for healthy snacking", "for the pantry", "for breakfast"),
    },
    "garden": {
        "adjectives": ("weatherproof", "hardy", "foldable", "cordless", "evergreen"),
        "materials": ("galvanised steel", "teak", "terracotta", "rattan"),
        "uses": ("for balconies", "for large lawns", "for summer evenings"),
    },
    "pets": {
        "adjectives": ("grain free", "chewable", "washable", "calming", "durable"),
        "materials": ("natural rubber", "fleece", "salmon recipe", "chicken recipe"),
        "uses": ("for playful puppies", "for indoor cats", "for senior pets"),
    },
}
"""Per top category: adjectives, materials and uses that appear in titles and descriptions."""

COLOURS: tuple[str, ...] = (
    "black",
    "white",
    "grey",
    "navy",
    "red",
    "green",
    "beige",
    "pink",
    "silver",
    "blue",
)

QUALITY_WORDS: tuple[tuple[str, ...], ...] = (
    ("basic", "simple", "no frills", "entry level"),
    ("reliable", "practical", "versatile", "popular"),
    ("premium", "award winning", "professional grade", "handcrafted"),
)
"""Words by quality tercile (low, middle, high)."""

PRICE_WORDS: tuple[tuple[str, ...], ...] = (
    ("great value", "budget friendly", "everyday low price"),
    ("fairly priced", "good value"),
    ("luxury", "designer", "investment piece"),
)
"""Words by price tier within the leaf (cheap, middle, expensive)."""

_BRAND_HEADS = (
    "Nor", "Al", "Vel", "Kor", "Tri", "Lu", "Ma", "Zen", "Bri", "Ca", "Do", "Fen", "Gar", "Hal",
    "Is", "Jun", "Kel", "Lo", "Mir", "Ol", "Pra", "Quin", "Ros", "Sol", "Tor", "Ul", "Vex", "Wil",
    "Yar", "Zo",
)  # fmt: skip
_BRAND_TAILS = (
    "vik", "ia", "ora", "ex", "line", "co", "son", "tek", "ly", "wood", "ford", "ix", "ara",
    "den", "ell", "ino", "um", "ette", "ton", "ique",
)  # fmt: skip

FIRST_NAMES: dict[str, tuple[str, ...]] = {
    "female": (
        "Olivia", "Amelia", "Isla", "Ava", "Mia", "Grace", "Freya", "Lily", "Emily", "Sophie",
        "Hannah", "Chloe", "Zara", "Aisha", "Priya", "Maria", "Elena", "Nora", "Ruby", "Alice",
    ),
    "male": (
        "Oliver", "George", "Noah", "Arthur", "Leo", "Harry", "Oscar", "Jack", "Samuel", "Adam",
        "Mohammed", "Lucas", "Daniel", "Ethan", "Omar", "Ravi", "Tomas", "Felix", "Isaac", "Max",
    ),
    "other": ("Alex", "Sam", "Jordan", "Robin", "Charlie", "Jamie", "Taylor", "Morgan"),
}  # fmt: skip
LAST_NAMES: tuple[str, ...] = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall",
    "Khan", "Lewis", "Clarke", "Jackson", "Wood", "Harris", "Edwards", "Turner", "Martin",
    "Cooper", "Hill", "Ward", "Hughes", "Moore", "Clark", "King", "Harrison", "Lee", "Baker",
    "Nowak", "Kowalski", "Garcia", "Rossi", "Novak", "Silva", "Ahmed", "Ali", "Singh", "Chen",
)  # fmt: skip
STREETS: tuple[str, ...] = (
    "High", "Station", "Church", "Park", "Victoria", "Green", "Manor", "Mill", "School", "Kings",
    "Queens", "New", "Grange", "Orchard", "Chapel", "Meadow", "Bridge", "Forest", "Spring", "Lime",
)  # fmt: skip
STREET_KINDS: tuple[str, ...] = ("Street", "Road", "Lane", "Avenue", "Close", "Way")
_TOWN_HEADS = (
    "Ash", "Bram", "Clay", "Dun", "Elm", "Fair", "Glen", "Hart", "Ivy", "Kings", "Lang", "Marsh",
    "New", "Oak", "Pen", "Red", "Stan", "Thorn", "Wel", "York",
)  # fmt: skip
_TOWN_TAILS = ("ton", "bury", "field", "ham", "ford", "wick", "by", "mouth", "stead", "worth")
EMAIL_DOMAINS: tuple[str, ...] = ("example.com", "example.org", "example.net")

AGE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("18-24", 18, 24),
    ("25-34", 25, 34),
    ("35-44", 35, 44),
    ("45-54", 45, 54),
    ("55-64", 55, 64),
    ("65+", 65, 85),
)
"""Age bands with their inclusive age limits."""

AGE_BAND_SHARES: tuple[float, ...] = (0.14, 0.23, 0.21, 0.18, 0.14, 0.10)
AGE_BAND_ACTIVITY: tuple[float, ...] = (1.15, 1.3, 1.1, 0.9, 0.7, 0.5)
"""Relative shopping activity by age band (older customers shop less often online)."""
AGE_BAND_PRICE_SENSITIVITY: tuple[float, ...] = (1.35, 1.15, 1.0, 0.9, 0.85, 0.95)
"""Relative price sensitivity by age band."""

DEVICE_DWELL: dict[str, float] = {"mobile": 0.75, "desktop": 1.2, "tablet": 1.0}
"""Dwell-time multiplier of known device names (other names: 1)."""
DEVICE_CONVERSION: dict[str, float] = {"mobile": -0.25, "desktop": 0.2, "tablet": 0.0}
"""Log-odds shift of add-to-cart and purchase for known device names (other names: 0)."""


def brand_names(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` distinct brand names built from syllables (numbered once the syllables run out)."""
    combos = [h + t for h in _BRAND_HEADS for t in _BRAND_TAILS]
    order = rng.permutation(len(combos))
    names = [combos[i] for i in order[: min(n, len(combos))]]
    k = 2
    while len(names) < n:
        names.extend(f"{combos[i]} {k}" for i in order[: n - len(names)])
        k += 1
    return names


def town_names(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` distinct town names."""
    combos = [h + t for h in _TOWN_HEADS for t in _TOWN_TAILS]
    order = rng.permutation(len(combos))
    names = [combos[i] for i in order[: min(n, len(combos))]]
    k = 2
    while len(names) < n:
        names.extend(f"{combos[i]} {k}" for i in order[: n - len(names)])
        k += 1
    return names


def pick(words: tuple[str, ...], u: np.ndarray) -> np.ndarray:
    """Map uniforms ``u`` in [0, 1) to words (object array)."""
    arr = np.asarray(words, dtype=object)
    return arr[np.minimum((u * len(arr)).astype(np.int64), len(arr) - 1)]
