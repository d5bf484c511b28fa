"""Normalizing person attributes so that the same person written two ways compares equal.

Everything here is DuckDB SQL (macros and one lookup table) because it runs on millions of rows:
names folded to ASCII lower case, full names split (``Last, First`` included), nicknames mapped to
the formal given name, phones reduced to E.164 and to a format-free key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

NICKNAMES_TABLE = "c360_nicknames"

# Formal given name -> what people write instead. Common English, Romance and Slavic short forms;
# a nickname shared by two formal names (Chris, Pat, Alex) maps to the first one listed, which is
# enough for a blocking key: the model still compares the names as written.
NICKNAMES: dict[str, tuple[str, ...]] = {
    "robert": ("bob", "rob", "bobby", "robbie", "bert"),
    "william": ("bill", "will", "billy", "willy", "liam"),
    "richard": ("rick", "dick", "rich", "ricky", "richie"),
    "james": ("jim", "jimmy", "jamie"),
    "john": ("jack", "johnny", "jon"),
    "michael": ("mike", "mickey", "mick", "mikey"),
    "thomas": ("tom", "tommy"),
    "christopher": ("chris", "kit", "topher"),
    "daniel": ("dan", "danny"),
    "matthew": ("matt", "matty"),
    "anthony": ("tony",),
    "joseph": ("joe", "joey"),
    "charles": ("charlie", "chuck", "chas"),
    "edward": ("ed", "ted", "eddie", "ned"),
    "steven": ("steve", "stevie"),
    "stephen": ("steve",),
    "andrew": ("andy", "drew"),
    "benjamin": ("ben", "benny"),
    "samuel": ("sam", "sammy"),
    "alexander": ("alex", "sasha", "xander", "al"),
    "nicholas": ("nick", "nicky"),
    "jonathan": ("jon", "johnny"),
    "timothy": ("tim", "timmy"),
    "patrick": ("pat", "paddy"),
    "peter": ("pete",),
    "gregory": ("greg",),
    "joshua": ("josh",),
    "kenneth": ("ken", "kenny"),
    "ronald": ("ron", "ronnie"),
    "donald": ("don", "donnie"),
    "douglas": ("doug",),
    "frederick": ("fred", "freddie", "freddy"),
    "henry": ("harry", "hank", "hal"),
    "lawrence": ("larry",),
    "raymond": ("ray",),
    "gerald": ("jerry", "gerry"),
    "zachary": ("zach", "zack"),
    "jeffrey": ("jeff",),
    "bradley": ("brad",),
    "vincent": ("vince", "vinny"),
    "philip": ("phil",),
    "eugene": ("gene",),
    "david": ("dave", "davey"),
    "nathaniel": ("nate", "nat"),
    "nathan": ("nate",),
    "albert": ("al", "bert"),
    "leonard": ("leo", "len", "lenny"),
    "elizabeth": ("liz", "beth", "betty", "eliza", "lizzie", "libby"),
    "margaret": ("maggie", "peggy", "meg", "marge"),
    "katherine": ("kate", "kathy", "katie", "kat"),
    "catherine": ("cathy", "kate", "cat"),
    "jennifer": ("jen", "jenny"),
    "rebecca": ("becky", "becca"),
    "susan": ("sue", "susie"),
    "deborah": ("debbie", "deb"),
    "patricia": ("patty", "trish", "pat", "tricia"),
    "barbara": ("barb", "babs"),
    "jessica": ("jess", "jessie"),
    "victoria": ("vicky", "tori", "vic"),
    "christine": ("chris", "tina", "chrissy"),
    "christina": ("tina",),
    "samantha": ("sam", "sammy"),
    "alexandra": ("alex", "sasha", "lexi"),
    "abigail": ("abby", "gail"),
    "cynthia": ("cindy",),
    "kimberly": ("kim",),
    "pamela": ("pam",),
    "theresa": ("tess", "terry", "tessa"),
    "judith": ("judy",),
    "amanda": ("mandy",),
    "stephanie": ("steph",),
    "melissa": ("mel", "missy"),
    "natalie": ("nat",),
    "jacqueline": ("jackie",),
    "josephine": ("jo", "josie"),
    "francesca": ("fran", "frankie"),
    "isabella": ("bella", "izzy"),
    "alejandro": ("alex", "ale"),
    "francisco": ("paco", "pancho", "cisco"),
    "jose": ("pepe",),
    "giuseppe": ("beppe", "peppe"),
    "johannes": ("hannes",),
    "dorothy": ("dot", "dottie"),
    "kathleen": ("kathy",),
    "frances": ("fran",),
    "virginia": ("ginny",),
    "danielle": ("dani",),
    "dmitri": ("dima",),
    "svetlana": ("sveta",),
    "natalia": ("natasha",),
    "santiago": ("santi",),
    "susanna": ("susie",),
    "valentina": ("vale",),
    "antonio": ("toni", "tono"),
    "eleanor": ("ellie", "nell"),
}


def nickname_rows() -> list[tuple[str, str]]:
    """(nickname, formal) pairs, one per nickname: the first formal name that lists it wins."""
    rows: dict[str, str] = {}
    for formal, nicks in NICKNAMES.items():
        for nick in nicks:
            rows.setdefault(nick, formal)
    return sorted(rows.items())


MACROS = (
    """CREATE OR REPLACE MACRO c360_squash(x) AS
        nullif(trim(regexp_replace(CAST(x AS VARCHAR), '\\s+', ' ', 'g')), '')""",
    # As written, minus stray spaces; a name typed in CAPITALS is shown capitalized ("SMITH" -> "Smith").
    """CREATE OR REPLACE MACRO c360_clean(x) AS CASE
        WHEN upper(c360_squash(x)) = c360_squash(x) AND lower(c360_squash(x)) <> c360_squash(x)
            THEN upper(c360_squash(x)[1]) || lower(c360_squash(x)[2:])
        ELSE c360_squash(x) END""",
    # "Last, First" is unambiguous; otherwise the first word is the given name, the rest the family name.
    """CREATE OR REPLACE MACRO c360_given_of(full_name) AS CASE
        WHEN contains(full_name, ',') THEN c360_clean(split_part(full_name, ',', 2))
        ELSE c360_clean(split_part(c360_clean(full_name), ' ', 1)) END""",
    """CREATE OR REPLACE MACRO c360_family_of(full_name) AS CASE
        WHEN contains(full_name, ',') THEN c360_clean(split_part(full_name, ',', 1))
        WHEN strpos(c360_clean(full_name), ' ') > 0
            THEN c360_clean(substr(c360_clean(full_name), strpos(c360_clean(full_name), ' ') + 1)) END""",
    # For comparison: accents dropped, lower case, letters and single spaces ("O'Brien" -> "obrien").
    """CREATE OR REPLACE MACRO c360_fold(x) AS nullif(trim(regexp_replace(regexp_replace(
        lower(strip_accents(CAST(x AS VARCHAR))), '[^a-z ]', '', 'g'), ' +', ' ', 'g')), '')""",
    """CREATE OR REPLACE MACRO c360_email(x) AS CASE
        WHEN regexp_full_match(lower(trim(CAST(x AS VARCHAR))), '[^@\\s]+@[^@\\s]+\\.[^@\\s]+')
        THEN lower(trim(CAST(x AS VARCHAR))) END""",
    # The same E.164 rule as the stage contracts' phone_e164 (ten digits without a prefix: +1).
    """CREATE OR REPLACE MACRO c360_phone(x) AS CASE
        WHEN x IS NULL OR length(regexp_replace(CAST(x AS VARCHAR), '[^0-9]', '', 'g')) < 7 THEN NULL
        WHEN starts_with(trim(CAST(x AS VARCHAR)), '+')
            THEN '+' || regexp_replace(CAST(x AS VARCHAR), '[^0-9]', '', 'g')
        WHEN starts_with(regexp_replace(CAST(x AS VARCHAR), '[^0-9]', '', 'g'), '00')
            THEN '+' || regexp_replace(CAST(x AS VARCHAR), '[^0-9]', '', 'g')[3:]
        WHEN length(regexp_replace(CAST(x AS VARCHAR), '[^0-9]', '', 'g')) = 10
            THEN '+1' || regexp_replace(CAST(x AS VARCHAR), '[^0-9]', '', 'g')
        ELSE '+' || regexp_replace(CAST(x AS VARCHAR), '[^0-9]', '', 'g') END""",
    # Whether a country code was written varies by system, so phones are compared on the last nine
    # digits: the subscriber number, identical in every notation of the same line.
    """CREATE OR REPLACE MACRO c360_phone_key(e164) AS CASE
        WHEN length(e164) >= 10 THEN right(e164, 9) END""",
)


def install(con: duckdb.DuckDBPyConnection) -> None:
    """Create the normalization macros and the nickname table in ``con`` (idempotent)."""
    for sql in MACROS:
        con.execute(sql)
    con.execute(f"CREATE OR REPLACE TABLE {NICKNAMES_TABLE} (nickname VARCHAR PRIMARY KEY, formal VARCHAR)")
    con.executemany(f"INSERT INTO {NICKNAMES_TABLE} VALUES (?, ?)", nickname_rows())


# What the matcher compares: every text folded, the nickname resolved, the phone reduced to its key.
FEATURE_COLUMNS = (
    "record_id", "source", "client_id", "first_name", "last_name", "first_key", "full_name",
    "email", "email_local", "email_from_name", "phone_key", "birth_date", "address", "city",
)  # fmt: skip


# An address that is only a name (john.smith@, jsmith@, smith_john@; no digits) is one that
# namesakes pick too: at a million people, two John Smiths share john.smith@gmail.com. Such an
# address proves less than a distinctive one, so the matcher knows which kind it compares. It is a
# property of the address: name-made if the name of any record holding it makes it (a record with a
# typo'd or married name does not make john.smith@ distinctive).
_LETTERS = "regexp_replace(split_part(f.email, '@', 1), '[._-]', '', 'g')"
_F, _L = "replace(f.first_name, ' ', '')", "replace(f.last_name, ' ', '')"
_FROM_NAME = (
    f"(f.email IS NOT NULL AND {_LETTERS} IN ({_F} || {_L}, {_L} || {_F}, {_F}[1] || {_L}, {_F} || {_L}[1]))"
)


def features(con: duckdb.DuckDBPyConnection, records: str, out: str) -> str:
    """Create the table ``out``: one row per record of ``records``, in the form the matcher compares."""
    con.execute(
        f"""CREATE OR REPLACE TABLE {out} AS
        WITH f AS (
            SELECT record_id, source, client_id, c360_fold(first_name) AS first_name,
                   c360_fold(last_name) AS last_name, c360_email(email) AS email,
                   c360_phone_key(c360_phone(phone)) AS phone_key, birth_date,
                   c360_fold(address) AS address, c360_fold(city) AS city
            FROM {records})
        SELECT f.record_id, f.source, f.client_id, f.first_name, f.last_name,
               coalesce(n.formal, f.first_name) AS first_key,
               nullif(concat_ws(' ', f.first_name, f.last_name), '') AS full_name,
               f.email, split_part(f.email, '@', 1) AS email_local,
               bool_or({_FROM_NAME}) OVER (PARTITION BY f.email) AS email_from_name,
               f.phone_key, f.birth_date, f.address, f.city
        FROM f LEFT JOIN {NICKNAMES_TABLE} n ON n.nickname = f.first_name"""
    )
    return out
