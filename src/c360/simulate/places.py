"""Where people live: countries, cities, streets, phone prefixes, and each system's geography.

The countries, cities, regions and their weights follow the reference retail extract, so the
simulated retail file has the reference file's geography; the same table gives the GA
continent fields and the phone country code, so one person's location is consistent everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa

from c360.simulate.names import words

# country, weight, retail region, retail subregion, calling code, GA continent, GA subContinent, cities
_COUNTRIES: list[tuple[str, int, str, str, int, str, str, str]] = [
    (
        "United States",
        2001,
        "AMER",
        "NAMER",
        1,
        "Americas",
        "Northern America",
        "New York City|Los Angeles|Seattle|San Francisco|Chicago|Houston|Philadelphia|Dallas|"
        "San Diego|Austin|"
        "Boston|Denver|Atlanta|Miami|Phoenix|Detroit|Columbus|Charlotte|Nashville|Portland|Las Vegas|"
        "Minneapolis|Baltimore|Milwaukee|Sacramento|Tampa|Raleigh|Oakland|Newark|Buffalo",
    ),
    (
        "United Kingdom",
        1141,
        "EMEA",
        "UKIR",
        44,
        "Europe",
        "Northern Europe",
        "London|Manchester|Birmingham|Leeds|Liverpool|Bristol|Newcastle|Edinburgh|Glasgow|Cardiff|Belfast|"
        "Brighton|Leicester|Woking",
    ),
    (
        "Japan",
        985,
        "APJ",
        "JAPN",
        81,
        "Asia",
        "Eastern Asia",
        "Tokyo|Osaka|Kyoto|Sapporo|Fukuoka|Hiroshima|Saitama|Chiba|Kanagawa|Aichi",
    ),
    ("France", 587, "EMEA", "EU-WEST", 33, "Europe", "Western Europe", "Paris|Lyon|Marseille|Nice|Nantes"),
    (
        "Canada",
        506,
        "AMER",
        "NAMER",
        1,
        "Americas",
        "Northern America",
        "Toronto|Montreal|Vancouver|Calgary|Ottawa|Winnipeg|Quebec|Hamilton|Victoria|Regina",
    ),
    (
        "Australia",
        492,
        "APJ",
        "ANZ",
        61,
        "Oceania",
        "Australasia",
        "Sydney|Melbourne|Brisbane|Perth|Adelaide|Canberra|Hobart|Gold Coast|Geelong|Wollongong",
    ),
    (
        "Mexico",
        469,
        "AMER",
        "LATAM",
        52,
        "Americas",
        "Central America",
        "Mexico City|Monterrey|Guadalajara|Tijuana|Cancun|Toluca|Puerto Vallarta",
    ),
    (
        "Germany",
        383,
        "EMEA",
        "EU-WEST",
        49,
        "Europe",
        "Western Europe",
        "Berlin|Hamburg|Munich|Cologne|Frankfurt|Stuttgart|Leipzig|Dresden|Hanover|Nuremberg|Mannheim",
    ),
    (
        "Brazil",
        255,
        "AMER",
        "LATAM",
        55,
        "Americas",
        "South America",
        "São Paulo|Rio de Janeiro|Brasília|Salvador|Belo Horizonte|Manaus",
    ),
    ("Sweden", 249, "EMEA", "NOR", 46, "Europe", "Northern Europe", "Stockholm|Gothenburg|Malmö|Uppsala"),
    ("Chile", 224, "AMER", "LATAM", 56, "Americas", "South America", "Santiago|Puente Alto|Antofagasta"),
    (
        "Spain",
        224,
        "EMEA",
        "EU-WEST",
        34,
        "Europe",
        "Southern Europe",
        "Madrid|Barcelona|Valencia|Seville|Zaragoza|Granada|Murcia|Alicante",
    ),
    ("Finland", 184, "EMEA", "NOR", 358, "Europe", "Northern Europe", "Helsinki|Espoo|Tampere|Vantaa"),
    ("South Africa", 183, "EMEA", "MEA", 27, "Africa", "Southern Africa", "Johannesburg|Cape Town"),
    (
        "Russia",
        182,
        "EMEA",
        "EU-EAST",
        7,
        "Europe",
        "Eastern Europe",
        "Moscow|St Petersburg|Novosibirsk|Yekaterinburg",
    ),
    (
        "India",
        149,
        "APJ",
        "IND",
        91,
        "Asia",
        "Southern Asia",
        "Mumbai|Delhi|Bangalore|Chennai|Kolkata|Hyderabad",
    ),
    ("South Korea", 135, "APJ", "APAC", 82, "Asia", "Eastern Asia", "Seoul|Busan|Incheon|Daegu|Gwangju"),
    (
        "Argentina",
        130,
        "AMER",
        "LATAM",
        54,
        "Americas",
        "South America",
        "Buenos Aires|Córdoba|Rosario|Mendoza",
    ),
    ("Ireland", 126, "EMEA", "UKIR", 353, "Europe", "Northern Europe", "Dublin|Cork|Limerick"),
    ("Belgium", 124, "EMEA", "EU-WEST", 32, "Europe", "Western Europe", "Brussels|Antwerp|Ghent"),
    (
        "Italy",
        110,
        "EMEA",
        "EU",
        39,
        "Europe",
        "Southern Europe",
        "Rome|Milan|Naples|Turin|Florence|Bologna|Genoa|Venice|Palermo",
    ),
    ("China", 105, "APJ", "APAC", 86, "Asia", "Eastern Asia", "Shanghai|Beijing|Shenzhen|Guangzhou|Chengdu"),
    ("Philippines", 96, "APJ", "APAC", 63, "Asia", "Southeast Asia", "Manila|Quezon City|Davao City"),
    ("Luxembourg", 89, "EMEA", "EU-WEST", 352, "Europe", "Western Europe", "Luxembourg"),
    ("Saudi Arabia", 82, "EMEA", "MEA", 966, "Asia", "Western Asia", "Riyadh|Jeddah|Dhahran"),
    ("Singapore", 66, "APJ", "APAC", 65, "Asia", "Southeast Asia", "Singapore"),
    ("Poland", 66, "EMEA", "EU-WEST", 48, "Europe", "Eastern Europe", "Warsaw|Krakow"),
    ("Portugal", 61, "EMEA", "EU-WEST", 351, "Europe", "Southern Europe", "Lisboa|Porto"),
    ("United Arab Emirates", 60, "EMEA", "MEA", 971, "Asia", "Western Asia", "Dubai|Abu Dhabi"),
    ("Norway", 56, "EMEA", "NOR", 47, "Europe", "Northern Europe", "Oslo|Hordaland"),
    ("Turkey", 53, "EMEA", "MEA", 90, "Asia", "Western Asia", "Istanbul|Ankara|Izmir|Bursa"),
    ("Netherlands", 45, "EMEA", "EU-WEST", 31, "Europe", "Western Europe", "Amsterdam|Rotterdam|The Hague"),
    ("Colombia", 42, "AMER", "LATAM", 57, "Americas", "South America", "Bogotá|Medellín|Cali"),
    ("Czech Republic", 42, "EMEA", "EU-EAST", 420, "Europe", "Eastern Europe", "Prague|Brno|Ostrava"),
    ("Israel", 39, "EMEA", "EU-EAST", 972, "Asia", "Western Asia", "Tel Aviv|Jerusalem"),
    ("New Zealand", 37, "APJ", "ANZ", 64, "Oceania", "Australasia", "Auckland|Wellington"),
    ("Greece", 27, "EMEA", "EU-EAST", 30, "Europe", "Southern Europe", "Athens|Thessaloniki"),
    ("Austria", 10, "EMEA", "EU-WEST", 43, "Europe", "Western Europe", "Vienna"),
    ("Denmark", 8, "EMEA", "EU-WEST", 45, "Europe", "Northern Europe", "Copenhagen"),
]

STREETS = words(
    """Main Oak Maple Cedar Pine Elm Church High Station Park Mill Bridge Victoria King Queen Market
Lake Hill River Sunset Washington Lincoln Jefferson Madison Franklin Highland Meadow Forest Spring
Willow Chestnut Walnut Cherry Birch Holly Garden Orchard Valley Green School Union Water Grove Ridge
Rose Albert Windsor Cambridge Oxford York Sakura Harbour Beech Poplar Lavender Primrose"""
)
# (long form, short form) of street types: the CRM writes one, other systems the other
STREET_TYPES: list[tuple[str, str]] = [
    ("Street", "St"),
    ("Avenue", "Ave"),
    ("Road", "Rd"),
    ("Lane", "Ln"),
    ("Drive", "Dr"),
    ("Boulevard", "Blvd"),
    ("Court", "Ct"),
    ("Place", "Pl"),
    ("Way", "Way"),
    ("Terrace", "Ter"),
]

EMAIL_DOMAINS = [
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "proton.me",
    "aol.com",
    "gmx.de",
    "web.de",
    "orange.fr",
    "libero.it",
    "yahoo.co.jp",
    "btinternet.com",
    "mail.ru",
    "live.com",
    "comcast.net",
    "fastmail.com",
    "zoho.com",
]
EMAIL_DOMAIN_WEIGHTS = np.array([30, 12, 10, 8, 6, 2, 2, 2, 2, 2, 1, 1, 1, 1, 3, 2, 1, 1], dtype=float)
OLD_EMAIL_DOMAINS = ["hotmail.com", "aol.com", "yahoo.com", "live.com", "msn.com", "earthlink.net"]


@dataclass(frozen=True)
class Geography:
    """The city table every simulator shares; arrays are aligned by city index."""

    city: pa.Array
    country: pa.Array
    city_country: np.ndarray  # country index per city
    city_weight: np.ndarray
    country_name: pa.Array
    region: pa.Array  # per country, as the retail system writes it
    subregion: pa.Array
    calling_code: np.ndarray  # per country
    continent: pa.Array
    subcontinent: pa.Array

    @property
    def n_cities(self) -> int:
        return len(self.city)


@lru_cache(maxsize=1)
def geography() -> Geography:
    cities: list[str] = []
    city_country: list[int] = []
    city_weight: list[float] = []
    for ci, (_, weight, *_rest, names) in enumerate(_COUNTRIES):
        parts = names.split("|")
        # the first city of a country is its biggest: it gets a third of the country's people
        w = np.full(len(parts), (2 / 3) / max(1, len(parts) - 1)) if len(parts) > 1 else np.ones(1)
        if len(parts) > 1:
            w[0] = 1 / 3
        cities += parts
        city_country += [ci] * len(parts)
        city_weight += list(w * weight)
    weights = np.array(city_weight)
    return Geography(
        city=pa.array(cities),
        country=pa.array([_COUNTRIES[c][0] for c in city_country]),
        city_country=np.array(city_country, dtype=np.int32),
        city_weight=weights / weights.sum(),
        country_name=pa.array([c[0] for c in _COUNTRIES]),
        region=pa.array([c[2] for c in _COUNTRIES]),
        subregion=pa.array([c[3] for c in _COUNTRIES]),
        calling_code=np.array([c[4] for c in _COUNTRIES], dtype=np.int32),
        continent=pa.array([c[5] for c in _COUNTRIES]),
        subcontinent=pa.array([c[6] for c in _COUNTRIES]),
    )


def draw_city(rng: np.random.Generator, size: int) -> np.ndarray:
    geo = geography()
    return rng.choice(geo.n_cities, size=size, p=geo.city_weight).astype(np.int32)


def draw_city_in_country(rng: np.random.Generator, city: np.ndarray) -> np.ndarray:
    """Another city of the same country (the same one where the country has a single city)."""
    geo = geography()
    cc = geo.city_country
    starts = np.searchsorted(cc, np.arange(cc.max() + 1))
    counts = np.bincount(cc)
    country = cc[city]
    return (starts[country] + rng.integers(0, counts[country])).astype(np.int32)
