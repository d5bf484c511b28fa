"""Name pools: first names by sex, nicknames, surnames, and their misspellings.

Names are drawn as indices into these pools, so that every variant a source system types
(nickname, typo, upper case, e-mail local part) is precomputed once per pool entry and taken by
index, instead of being produced row by row. The pools mix nationalities and keep accents
(José, Müller) so that accent folding is part of the matching problem.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa


def words(text: str) -> list[str]:
    """Whitespace-separated words, in order and without repeats; ``_`` stands for a space in a word."""
    return list(dict.fromkeys(w.replace("_", " ") for w in text.split()))


FEMALE = words(
    """Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Nancy Lisa Margaret
Betty Sandra Ashley Dorothy Kimberly Emily Donna Michelle Carol Amanda Melissa Deborah Stephanie Rebecca
Laura Sharon Cynthia Kathleen Amy Shirley Angela Helen Anna Brenda Pamela Nicole Samantha Katherine
Christine Emma Catherine Debra Virginia Rachel Carolyn Janet Maria Heather Diane Julie Joyce Victoria
Kelly Christina Joan Evelyn Lauren Judith Olivia Frances Martha Cheryl Megan Andrea Hannah Jacqueline
Ann Jean Alice Kathryn Gloria Teresa Doris Sara Janice Julia Marie Madison Grace Judy Theresa Beverly
Denise Marilyn Amber Danielle Abigail Brittany Rose Diana Natalie Sophia Alexis Lori Kayla Jane Zoe
Claire Deirdre Melanie Isabella Chloe Charlotte Amelie Camille Léa Manon Sofía Lucía Valentina Camila
Francesca Giulia Chiara Ingrid Astrid Sigrid Freya Annika Katarzyna Agnieszka Yuki Sakura Aiko Mei
Priya Ananya Fatima Aisha Leila Noor Svetlana Olga Natalia Ines Beatriz Zoë Renée Brigitte Ursula
Josephine Alexandra Jacqueline Cathy Susanne Monika Petra Sabine"""
)

MALE = words(
    """James Robert John Michael William David Richard Joseph Thomas Charles Christopher Daniel Matthew
Anthony Mark Donald Steven Paul Andrew Joshua Kenneth Kevin Brian George Timothy Ronald Edward Jason
Jeffrey Ryan Jacob Gary Nicholas Eric Jonathan Stephen Larry Justin Scott Brandon Benjamin Samuel
Gregory Alexander Frank Patrick Raymond Jack Dennis Jerry Tyler Aaron Jose Adam Nathan Henry Douglas
Zachary Peter Kyle Noah Ethan Jeremy Walter Christian Keith Roger Terry Austin Sean Gerald Carl Harold
Dylan Arthur Lawrence Jordan Jesse Bryan Billy Bruce Gabriel Joe Logan Albert Willie Alan Eugene Russell
Vincent Philip Bobby Johnny Bradley Frederick Louis Liam Oliver Lucas Hugo Louis Théo Mathieu François
José Alejandro Francisco Javier Carlos Diego Mateo Santiago Giuseppe Marco Luca Matteo Lorenzo Hans
Jürgen Klaus Wolfgang Stefan Johannes Lukas Björn Lars Søren Erik Magnus Łukasz Piotr Krzysztof Hiroshi
Takeshi Kenji Haruto Raj Arjun Vikram Omar Ahmed Yusuf Dmitri Sergei Ivan João Pedro Rafael Nathan
Thiago Matías Sebastián Emil Anders"""
)

# Formal name -> nicknames people write instead (Robert -> Bob).
NICKNAMES: dict[str, tuple[str, ...]] = {
    "Robert": ("Bob", "Rob", "Bobby"),
    "William": ("Bill", "Will", "Liam"),
    "Richard": ("Rick", "Dick", "Rich"),
    "James": ("Jim", "Jimmy", "Jamie"),
    "John": ("Jack", "Johnny"),
    "Michael": ("Mike", "Mickey"),
    "Thomas": ("Tom", "Tommy"),
    "Christopher": ("Chris", "Kit"),
    "Daniel": ("Dan", "Danny"),
    "Matthew": ("Matt",),
    "Anthony": ("Tony",),
    "Joseph": ("Joe", "Joey"),
    "Charles": ("Charlie", "Chuck"),
    "Edward": ("Ed", "Ted", "Eddie"),
    "Steven": ("Steve",),
    "Stephen": ("Steve",),
    "Andrew": ("Andy", "Drew"),
    "Benjamin": ("Ben",),
    "Samuel": ("Sam",),
    "Alexander": ("Alex", "Sasha"),
    "Nicholas": ("Nick",),
    "Jonathan": ("Jon",),
    "Timothy": ("Tim",),
    "Patrick": ("Pat",),
    "Peter": ("Pete",),
    "Gregory": ("Greg",),
    "Joshua": ("Josh",),
    "Kenneth": ("Ken", "Kenny"),
    "Ronald": ("Ron",),
    "Donald": ("Don",),
    "Douglas": ("Doug",),
    "Frederick": ("Fred", "Freddie"),
    "Henry": ("Harry", "Hank"),
    "Lawrence": ("Larry",),
    "Raymond": ("Ray",),
    "Gerald": ("Jerry",),
    "Zachary": ("Zach",),
    "Jeffrey": ("Jeff",),
    "Bradley": ("Brad",),
    "Vincent": ("Vince",),
    "Philip": ("Phil",),
    "Eugene": ("Gene",),
    "Elizabeth": ("Liz", "Beth", "Betty", "Eliza"),
    "Margaret": ("Maggie", "Peggy", "Meg"),
    "Katherine": ("Kate", "Kathy", "Katie"),
    "Catherine": ("Cathy", "Kate"),
    "Jennifer": ("Jen", "Jenny"),
    "Rebecca": ("Becky", "Becca"),
    "Susan": ("Sue", "Susie"),
    "Deborah": ("Debbie", "Deb"),
    "Patricia": ("Patty", "Trish", "Pat"),
    "Barbara": ("Barb",),
    "Jessica": ("Jess",),
    "Victoria": ("Vicky", "Tori"),
    "Christine": ("Chris", "Tina"),
    "Christina": ("Tina",),
    "Samantha": ("Sam",),
    "Alexandra": ("Alex", "Sasha"),
    "Abigail": ("Abby",),
    "Cynthia": ("Cindy",),
    "Kimberly": ("Kim",),
    "Pamela": ("Pam",),
    "Theresa": ("Tess",),
    "Judith": ("Judy",),
    "Amanda": ("Mandy",),
    "Stephanie": ("Steph",),
    "Melissa": ("Mel",),
    "Natalie": ("Nat",),
    "Jacqueline": ("Jackie",),
    "Josephine": ("Jo", "Josie"),
    "Francesca": ("Fran",),
    "Isabella": ("Bella", "Izzy"),
    "Alejandro": ("Alex",),
    "Francisco": ("Paco",),
    "José": ("Pepe",),
    "Giuseppe": ("Beppe",),
    "Johannes": ("Hannes",),
    "Dorothy": ("Dot", "Dottie"),
    "Kathleen": ("Kathy",),
    "Frances": ("Fran",),
    "Virginia": ("Ginny",),
    "Danielle": ("Dani",),
    "Dmitri": ("Dima",),
    "Svetlana": ("Sveta",),
    "Natalia": ("Natasha",),
    "Santiago": ("Santi",),
}

LAST = words(
    """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez
Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez
Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker
Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins
Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly
Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes
Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan
Bell Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson Alexander
Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina
Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez McDonald Woods Washington Kennedy
Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson Porter Hunter Gordon
Mendez Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose
Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver
Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold Pierce Vazquez Hansen Peters Santos Hart
Bradley Knight Elliott Cunningham Duncan Armstrong Hudson Carroll Lane Riley Andrews Alvarado Ray
Delgado Berry Perkins Hoffman Johnston Matthews Pena Richards Contreras Willis Carpenter Lawrence
Sandoval Hodges Welch Sharp Morrison Müller Schneider Fischer Weber Becker Schulz Koch Richter Wolf
Schröder Neumann Zimmermann Krüger Hartmann Lange Werner Krause Lehmann Bernard Dubois Durand Leroy
Moreau Laurent Lefèvre Michel Fournier Girard Bonnet Dupont Lambert Fontaine Rousseau Rossi Russo
Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Bruno Gallo Conti Costa Giordano Mancini
Sato Suzuki Takahashi Tanaka Watanabe Ito Yamamoto Nakamura Kobayashi Kato Yoshida Yamada Oliveira
Souza Pereira Ferreira Almeida Carvalho Gomes Ribeiro Kowalski Nowak Wiśniewski Wójcik Kamiński
Andersson Johansson Karlsson Nilsson Eriksson Larsson Olsen Jensen Nielsen Pedersen Kristensen
O'Brien O'Connor O'Neill Byrne Walsh McCarthy Doyle Quinn Brennan Park Choi Jung Kang Wang Li Zhang
Liu Yang Huang Zhao Wu Zhou Singh Kumar Sharma Gupta Mehta Reddy Iyer Ivanov Smirnov Kuznetsov Popov
Petrov Sokolov Cohen Levi Mizrahi Yilmaz Kaya Demir Şahin Haddad Nasser Khalil Mansour Van_Dijk De_Jong
Janssen De_Vries Bakker Visser Peeters Maes Jacobs Novák Horváth Nagy Papadopoulos Georgiou Santos
Mendes Lindqvist Virtanen Korhonen Mäkinen Nieminen Hämäläinen"""
)


def fold(name: str) -> str:
    """ASCII, lower case, letters only: what an e-mail local part keeps of a name."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower() if c.isalpha())


def _typos(name: str, rnd: random.Random, count: int) -> list[str]:
    """Plausible keyboard slips: a dropped, doubled, swapped or replaced letter."""
    out: list[str] = []
    neighbours = "qwertyuiopasdfghjklzxcvbnm"
    attempts = 0
    while len(out) < count and attempts < 50:
        attempts += 1
        i = rnd.randrange(1, max(2, len(name) - 1)) if len(name) > 2 else 0
        kind = rnd.randrange(4)
        if kind == 0 and len(name) > 3:
            t = name[:i] + name[i + 1 :]
        elif kind == 1:
            t = name[:i] + name[i] + name[i:]
        elif kind == 2 and i + 1 < len(name):
            t = name[:i] + name[i + 1] + name[i] + name[i + 2 :]
        else:
            c = neighbours[rnd.randrange(len(neighbours))]
            t = name[:i] + (c.upper() if i == 0 else c) + name[i + 1 :]
        if t != name and t not in out:
            out.append(t)
    while len(out) < count:
        out.append(name + name[-1])
    return out


TYPO_VARIANTS = 3


@dataclass(frozen=True)
class NamePool:
    """One pool of names and everything derived from it, aligned by index."""

    names: pa.Array  # the names as written in official records
    upper: pa.Array  # THE NAME IN CAPITALS
    folded: pa.Array  # ascii lower case letters, for e-mail local parts
    typos: tuple[pa.Array, ...]  # TYPO_VARIANTS misspellings per name
    nickname: np.ndarray  # index into ``names`` of a nickname, or -1 (first-name pools only)
    weights: np.ndarray  # popularity: a Zipf-like law makes common names common


def _zipf(n: int, seed: int) -> np.ndarray:
    rank = np.random.default_rng(seed).permutation(n)
    w = 1.0 / (rank + 8.0) ** 0.9
    return w / w.sum()


def _pool(names: list[str], seed: int, nicknames: bool) -> NamePool:
    rnd = random.Random(seed)
    all_names = list(names)
    nick = []
    if nicknames:
        index = {n: i for i, n in enumerate(all_names)}
        for n in names:
            options = NICKNAMES.get(n, ())
            if not options:
                nick.append(-1)
                continue
            chosen = options[rnd.randrange(len(options))]
            if chosen not in index:
                index[chosen] = len(all_names)
                all_names.append(chosen)
            nick.append(index[chosen])
        nick += [-1] * (len(all_names) - len(names))
    else:
        nick = [-1] * len(all_names)
    typos = [_typos(n, rnd, TYPO_VARIANTS) for n in all_names]
    weights = np.zeros(len(all_names))
    weights[: len(names)] = _zipf(len(names), seed)  # nicknames are never drawn as given names
    return NamePool(
        names=pa.array(all_names),
        upper=pa.array([n.upper() for n in all_names]),
        folded=pa.array([fold(n) for n in all_names]),
        typos=tuple(pa.array([t[k] for t in typos]) for k in range(TYPO_VARIANTS)),
        nickname=np.array(nick, dtype=np.int32),
        weights=weights,
    )


@lru_cache(maxsize=1)
def first_names() -> NamePool:
    """Female names first, then male ones; ``female_count()`` tells where the male ones start."""
    return _pool(FEMALE + MALE, 11, nicknames=True)


def female_count() -> int:
    return len(FEMALE)


@lru_cache(maxsize=1)
def last_names() -> NamePool:
    return _pool(LAST, 13, nicknames=False)


def draw_first(rng: np.random.Generator, female: np.ndarray) -> np.ndarray:
    """A given name per person, by sex and popularity."""
    pool = first_names()
    nf = female_count()
    nm = len(MALE)
    wf = pool.weights[:nf] / pool.weights[:nf].sum()
    wm = pool.weights[nf : nf + nm] / pool.weights[nf : nf + nm].sum()
    out = np.empty(female.size, dtype=np.int32)
    out[female] = rng.choice(nf, size=int(female.sum()), p=wf)
    out[~female] = nf + rng.choice(nm, size=int((~female).sum()), p=wm)
    return out


def draw_last(rng: np.random.Generator, size: int) -> np.ndarray:
    pool = last_names()
    w = pool.weights / pool.weights.sum()
    return rng.choice(len(w), size=size, p=w).astype(np.int32)
