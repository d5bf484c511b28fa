"""What is sold: the retail (B2B software) catalogue and its customers, and the online store's products.

The retail companies, industries, products and discounts follow the reference retail extract so
that the simulated file looks like it; the online store's categories and brands follow the
REES46 e-commerce dataset that the clickstream format comes from.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa

from c360.simulate.fmt import text
from c360.simulate.rand import distinct_ints, rng_for

# company, industry, weight (orders per company in the reference file, roughly)
COMPANIES: list[tuple[str, str]] = [
    ("Allianz", "Finance"),
    ("Tyson Foods", "Consumer Products"),
    ("Ford Motor", "Manufacturing"),
    ("Siemens", "Manufacturing"),
    ("Comcast", "Communications"),
    ("BNP Paribas", "Finance"),
    ("Prudential Financial", "Finance"),
    ("Aetna", "Healthcare"),
    ("Chevron", "Energy"),
    ("AT&T", "Communications"),
    ("AmerisourceBergen", "Healthcare"),
    ("Mondelez International", "Consumer Products"),
    ("Abbott Laboratories", "Healthcare"),
    ("Airbus", "Manufacturing"),
    ("Allstate", "Finance"),
    ("Alphabet", "Tech"),
    ("Amazon", "Tech"),
    ("American Express", "Finance"),
    ("Anthem", "Healthcare"),
    ("Apple", "Tech"),
    ("Aviva", "Finance"),
    ("BMW", "Manufacturing"),
    ("Banco Santander", "Finance"),
    ("Bank of America Corp.", "Finance"),
    ("Berkshire Hathaway", "Finance"),
    ("Boeing", "Manufacturing"),
    ("Bosch", "Tech"),
    ("CVS Health", "Retail"),
    ("Carrefour", "Retail"),
    ("Caterpillar", "Manufacturing"),
    ("China National Petroleum", "Energy"),
    ("Cigna", "Healthcare"),
    ("Cisco Systems", "Tech"),
    ("Citigroup", "Finance"),
    ("Coca-Cola", "Consumer Products"),
    ("ConocoPhillips", "Energy"),
    ("Costco Wholesale", "Retail"),
    ("Daimler", "Transportation"),
    ("Enel", "Energy"),
    ("Engie", "Energy"),
    ("Exxon Mobil", "Energy"),
    ("Fannie Mae", "Finance"),
    ("FedEx", "Transportation"),
    ("Gazprom", "Energy"),
    ("General Electric", "Finance"),
    ("General Motors", "Manufacturing"),
    ("Glencore", "Misc"),
    ("Goldman Sachs Group", "Finance"),
    ("HSBC Holdings", "Finance"),
    ("Home Depot", "Retail"),
    ("HonHai Precision Industry", "Tech"),
    ("Honda Motor", "Manufacturing"),
    ("Huawei", "Tech"),
    ("Humana", "Healthcare"),
    ("Intel", "Tech"),
    ("Itochu", "Finance"),
    ("J.P. Morgan Chase & Co.", "Finance"),
    ("Johnson & Johnson", "Healthcare"),
    ("Kroger", "Retail"),
    ("Lowes", "Retail"),
    ("Lukoil", "Energy"),
    ("Marathon Petroleum", "Energy"),
    ("McKesson", "Consumer Products"),
    ("Merck", "Healthcare"),
    ("Microsoft", "Tech"),
    ("Mitsubishi", "Manufacturing"),
    ("Morgan Stanley", "Finance"),
    ("Nestle", "Consumer Products"),
    ("News Corp.", "Misc"),
    ("Nissan Motor", "Transportation"),
    ("Oracle", "Tech"),
    ("Panasonic", "Tech"),
    ("Pemex", "Energy"),
    ("PepsiCo", "Consumer Products"),
    ("Petrobras", "Energy"),
    ("Pfizer", "Healthcare"),
    ("Philip Morris International", "Consumer Products"),
    ("Phillips 66", "Energy"),
    ("Procter & Gamble", "Consumer Products"),
    ("Royal Dutch Shell", "Energy"),
    ("Safeway", "Retail"),
    ("Samsung Electronics", "Tech"),
    ("Sony", "Tech"),
    ("Sprint Nextel", "Communications"),
    ("State Farm Insurance Cos.", "Finance"),
    ("Sysco", "Consumer Products"),
    ("Target", "Retail"),
    ("Tesco", "Retail"),
    ("Toyota Motor", "Manufacturing"),
    ("Trafigura Group", "Finance"),
    ("United Parcel Service", "Transportation"),
    ("UnitedHealth Group", "Healthcare"),
    ("Valero Energy", "Energy"),
    ("Verizon Communications", "Communications"),
    ("Volkswagen", "Manufacturing"),
    ("Walgreens", "Retail"),
    ("Walmart", "Retail"),
    ("Walt Disney", "Communications"),
    ("Wells Fargo", "Finance"),
]
# product, share of order lines, typical unit price
PRODUCTS: list[tuple[str, int, float]] = [
    ("ContactMatcher", 1842, 70.0),
    ("Support", 1560, 25.0),
    ("FinanceHub", 981, 95.0),
    ("SaaS Connector Pack", 957, 30.0),
    ("Site Analytics", 889, 120.0),
    ("Marketing Suite - Gold", 846, 85.0),
    ("ChatBot Plugin", 796, 10.0),
    ("Data Smasher", 775, 65.0),
    ("OneView", 466, 70.0),
    ("SaaS Connector Pack - Gold", 254, 20.0),
    ("Marketing Suite", 228, 150.0),
    ("Storage", 217, 5.0),
    ("Big Ol Database", 115, 450.0),
    ("Alchemy", 68, 700.0),
]
SEGMENTS = ["SMB", "Strategic", "Enterprise"]
SEGMENT_P = [0.52, 0.30, 0.18]
DISCOUNTS = np.array([0, 0.2, 0.7, 0.8, 0.3, 0.4, 0.6, 0.1, 0.5, 0.15, 0.32, 0.45])
DISCOUNT_P = np.array([4798, 3657, 418, 300, 227, 206, 138, 94, 66, 52, 27, 11], dtype=float)
QUANTITIES = np.array([3, 2, 5, 4, 1, 7, 6, 9, 8, 50, 11, 14, 10, 12, 13])
QUANTITY_P = np.array([2409, 2402, 1230, 1191, 899, 606, 572, 258, 257, 57, 34, 29, 25, 15, 10], dtype=float)
CHANNELS = ["Online", "Partner", "Direct Sales", "Marketplace"]

# online store (REES46-like): category codes, their brands and price levels
STORE_CATEGORIES: list[tuple[str, str, float]] = [
    ("electronics.smartphone", "samsung|apple|xiaomi|huawei|oppo|honor", 300.0),
    ("electronics.audio.headphone", "sony|samsung|apple|jbl|xiaomi", 60.0),
    ("electronics.video.tv", "samsung|lg|sony|philips|xiaomi", 450.0),
    ("electronics.clocks", "casio|apple|samsung|garmin", 150.0),
    ("electronics.tablet", "apple|samsung|lenovo|huawei", 350.0),
    ("computers.notebook", "lenovo|hp|asus|acer|apple|dell", 700.0),
    ("computers.desktop", "hp|lenovo|dell|asus", 600.0),
    ("computers.peripherals.printer", "hp|canon|epson|brother", 150.0),
    ("appliances.kitchen.refrigerators", "lg|samsung|bosch|beko|indesit", 500.0),
    ("appliances.kitchen.washer", "lg|samsung|bosch|beko|indesit", 380.0),
    ("appliances.environment.vacuum", "samsung|dyson|philips|bosch|xiaomi", 180.0),
    ("appliances.kitchen.kettle", "tefal|bosch|philips|redmond", 30.0),
    ("appliances.personal.hair_cutter", "philips|braun|remington", 35.0),
    ("furniture.living_room.sofa", "ikea|askona", 400.0),
    ("furniture.bedroom.bed", "ikea|askona|ormatek", 300.0),
    ("apparel.shoes", "nike|adidas|puma|reebok|skechers", 80.0),
    ("apparel.trousers", "levis|zara|mango", 45.0),
    ("auto.accessories.player", "pioneer|sony|kenwood", 90.0),
    ("construction.tools.drill", "bosch|makita|dewalt|metabo", 110.0),
    ("kids.toys", "lego|hasbro|mattel", 35.0),
    ("sport.bicycle", "stels|forward|merida|trek", 300.0),
    ("accessories.bag", "samsonite|tumi|xiaomi", 70.0),
    ("", "", 40.0),  # REES46 leaves many events without a category code
    ("", "", 15.0),
]


@dataclass(frozen=True)
class StoreCatalog:
    """The online store's products, sorted by category so a category is a contiguous range."""

    product_id: np.ndarray
    category: np.ndarray  # index into STORE_CATEGORIES
    category_id: pa.Array  # 19-digit ids as text
    category_code: pa.Array
    brand: pa.Array  # "" where REES46 has none
    price: pa.Array  # text with two decimals
    price_value: np.ndarray
    popularity: np.ndarray
    category_start: np.ndarray
    category_size: np.ndarray


@lru_cache(maxsize=4)
def store_catalog(seed: int, n_products: int) -> StoreCatalog:
    rng = rng_for(seed, "catalog")
    n_cat = len(STORE_CATEGORIES)
    # every category holds at least one product, however small the catalogue
    category = np.sort(
        np.concatenate([np.arange(n_cat), rng.integers(0, n_cat, size=max(0, n_products - n_cat))])
    )
    n_products = category.size
    cat_ids = distinct_ints(rng, 2_053_013_552_000_000_000, 2_232_732_120_000_000_000, n_cat)
    brands_by_cat = [c[1].split("|") if c[1] else [""] for c in STORE_CATEGORIES]
    brand_pick = rng.random(n_products)
    brand = []
    cat_list = category.tolist()
    for i, c in enumerate(cat_list):  # once per product, not per event
        options = brands_by_cat[c]
        b = options[int(brand_pick[i] * len(options))]
        brand.append(b if brand_pick[i] > 0.1 else "")
    base = np.array([c[2] for c in STORE_CATEGORIES])[category]
    price = np.round(base * rng.lognormal(0, 0.45, size=n_products), 2)
    price = np.maximum(price, 0.99)
    product_id = distinct_ints(rng, 1_000_000, 100_000_000, n_products)
    popularity = rng.pareto(1.2, size=n_products) + 0.05
    starts = np.searchsorted(category, np.arange(n_cat))
    sizes = np.bincount(category, minlength=n_cat)
    return StoreCatalog(
        product_id=product_id,
        category=category,
        category_id=text(cat_ids[category]),
        category_code=pa.array([c[0] for c in STORE_CATEGORIES]).take(pa.array(category)),
        brand=pa.array(brand, pa.string()),
        price=pa.array([f"{p:.2f}" for p in price.tolist()]),
        price_value=price,
        popularity=popularity,
        category_start=starts,
        category_size=sizes,
    )
