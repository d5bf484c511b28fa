"""The GA360 session export's JSON shape, as templates with slots, plus the site's pools.

A GA360 session line is ~4 kB of mostly constant JSON. Writing it with a JSON library per row
would dominate the whole simulation, so the shape is declared once as a Python dict with
``@@slot@@`` markers, serialised once, and split into constant text between slots; each row then
only fills the slots (with already-rendered JSON tokens) in one vectorized concatenation. Key
order, nulls and the "not available in demo dataset" placeholders follow the reference export.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pyarrow as pa

from c360.simulate.fmt import Text, join

NA = "not available in demo dataset"
_SLOT = re.compile(r'"@@(\w+)@@"')


@dataclass(frozen=True)
class Template:
    """Constant text around named slots: ``const[0] slot[0] const[1] ... slot[-1] const[-1]``."""

    const: tuple[str, ...]
    slots: tuple[str, ...]

    def render(self, values: dict[str, Text]) -> pa.Array:
        parts: list[Text] = []
        for i, slot in enumerate(self.slots):
            if self.const[i]:
                parts.append(self.const[i])
            parts.append(values[slot])
        if self.const[-1]:
            parts.append(self.const[-1])
        return join(*parts)


def compile_template(shape: dict[str, Any]) -> Template:
    text = dumps(shape)
    const, slots, pos = [], [], 0
    for m in _SLOT.finditer(text):
        const.append(text[pos : m.start()])
        slots.append(m.group(1))
        pos = m.end()
    const.append(text[pos:])
    return Template(tuple(const), tuple(slots))


def dumps(value: Any) -> str:
    """Compact JSON, as the reference export writes it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def slot(name: str) -> str:
    return f"@@{name}@@"


SESSION = compile_template(
    {
        "visitorId": None,
        "visitNumber": slot("visitNumber"),
        "visitId": slot("visitId"),
        "visitStartTime": slot("visitStartTime"),
        "date": slot("date"),
        "totals": slot("totals"),
        "trafficSource": slot("trafficSource"),
        "device": slot("device"),
        "geoNetwork": slot("geoNetwork"),
        "customDimensions": slot("customDimensions"),
        "hits": slot("hits"),
        "fullVisitorId": slot("fullVisitorId"),
        "userId": None,
        "clientId": None,
        "channelGrouping": slot("channelGrouping"),
        "socialEngagementType": "Not Socially Engaged",
    }
)

TOTALS = compile_template(
    {
        "visits": 1,
        "hits": slot("hits"),
        "pageviews": slot("pageviews"),
        "timeOnSite": slot("timeOnSite"),
        "bounces": slot("bounces"),
        "transactions": slot("transactions"),
        "transactionRevenue": slot("transactionRevenue"),
        "newVisits": slot("newVisits"),
        "screenviews": None,
        "uniqueScreenviews": None,
        "timeOnScreen": None,
        "totalTransactionRevenue": slot("transactionRevenue"),
        "sessionQualityDim": slot("sessionQualityDim"),
    }
)

HIT = compile_template(
    {
        "hitNumber": slot("hitNumber"),
        "time": slot("time"),
        "hour": slot("hour"),
        "minute": slot("minute"),
        "isSecure": None,
        "isInteraction": True,
        "isEntrance": slot("isEntrance"),
        "isExit": slot("isExit"),
        "referer": slot("referer"),
        "page": slot("page"),
        "transaction": slot("transaction"),
        "item": slot("item"),
        "contentInfo": None,
        "appInfo": {
            "name": None,
            "version": None,
            "id": None,
            "installerId": None,
            "appInstallerId": None,
            "appName": None,
            "appVersion": None,
            "appId": None,
            "screenName": slot("screenName"),
            "landingScreenName": slot("landingScreenName"),
            "exitScreenName": slot("exitScreenName"),
            "screenDepth": "0",
        },
        "exceptionInfo": {"description": None, "isFatal": True, "exceptions": None, "fatalExceptions": None},
        "eventInfo": slot("eventInfo"),
        "product": slot("product"),
        "promotion": [],
        "promotionActionInfo": None,
        "refund": None,
        "eCommerceAction": slot("eCommerceAction"),
        "experiment": [],
        "publisher": None,
        "customVariables": [],
        "customDimensions": [],
        "customMetrics": [],
        "type": slot("type"),
        "social": {
            "socialInteractionNetwork": None,
            "socialInteractionAction": None,
            "socialInteractions": None,
            "socialInteractionTarget": None,
            "socialNetwork": "(not set)",
            "uniqueSocialInteractions": None,
            "hasSocialSourceReferral": "No",
            "socialInteractionNetworkAction": " : ",
        },
        "latencyTracking": None,
        "sourcePropertyInfo": None,
        "contentGroup": slot("contentGroup"),
        "dataSource": "web",
        "publisher_infos": [],
    }
)

ADD_TO_CART = dumps(
    {
        "eventCategory": "Enhanced Ecommerce",
        "eventAction": "Add to Cart",
        "eventLabel": None,
        "eventValue": None,
    }
)
EMPTY_TRANSACTION = dumps(
    {
        "transactionId": None,
        "transactionRevenue": None,
        "transactionTax": None,
        "transactionShipping": None,
        "affiliation": None,
        "currencyCode": "USD",
        "localTransactionRevenue": None,
        "localTransactionTax": None,
        "localTransactionShipping": None,
        "transactionCoupon": None,
    }
)
TRANSACTION = compile_template(
    {
        "transactionId": slot("transactionId"),
        "transactionRevenue": slot("revenue"),
        "transactionTax": slot("tax"),
        "transactionShipping": slot("shipping"),
        "affiliation": None,
        "currencyCode": "USD",
        "localTransactionRevenue": slot("revenue"),
        "localTransactionTax": slot("tax"),
        "localTransactionShipping": slot("shipping"),
        "transactionCoupon": None,
    }
)
EMPTY_ITEM = dumps(
    {
        "transactionId": None,
        "productName": None,
        "productCategory": None,
        "productSku": None,
        "itemQuantity": None,
        "itemRevenue": None,
        "currencyCode": "USD",
        "localItemRevenue": None,
    }
)

SHOP = "shop.googlemerchandisestore.com"
WWW = "www.googlemerchandisestore.com"

# page kinds
HOME, CATEGORY, PRODUCT, BASKET, SIGNIN, ACCOUNT, INFO, CHECKOUT_INFO, CHECKOUT_PAY, CHECKOUT_REVIEW, DONE = (
    range(11)
)
ACTION = {
    HOME: ("0", 1, None),
    CATEGORY: ("0", 1, None),
    PRODUCT: ("2", 1, None),
    BASKET: ("0", 1, None),
    SIGNIN: ("0", 1, None),
    ACCOUNT: ("0", 1, None),
    INFO: ("0", 1, None),
    CHECKOUT_INFO: ("5", 1, "Billing and Shipping"),
    CHECKOUT_PAY: ("5", 2, "Payment"),
    CHECKOUT_REVIEW: ("5", 3, "Review"),
    DONE: ("6", 1, None),
}

GROUPS = ["(not set)", "Apparel", "Bags", "Drinkware", "Office", "Electronics", "Brands", "Lifestyle"]
_PRODUCTS: dict[str, list[tuple[str, float]]] = {
    "Apparel": [
        ("Google Men's Short Sleeve Hero Tee Black", 16.99),
        ("Google Women's Short Sleeve Hero Tee Black", 16.99),
        ("Google Women's Vintage Hero Tee White", 18.99),
        ("Google Men's Vintage Badge Tee Black", 18.99),
        ("YouTube Women's Short Sleeve Hero Tee Charcoal", 16.99),
        ("Google Men's Microfiber 1/4 Zip Pullover Blue/Indigo", 39.99),
        ("Google Men's Zip Hoodie", 55.99),
        ("Android Men's Pep Rally Short Sleeve Tee Navy", 19.99),
    ],
    "Bags": [
        ("Waterproof Backpack", 79.99),
        ("Google Laptop Backpack", 99.99),
        ("Google Tote Bag", 9.99),
        ("Google Slim Utility Travel Bag", 49.99),
        ("Google Lunch Bag", 12.99),
    ],
    "Drinkware": [
        ("Google 17oz Stainless Steel Sport Bottle", 19.99),
        ("Google Insulated Stainless Steel Bottle", 24.99),
        ("Android 24 oz Contigo Bottle", 15.99),
        ("Google Tumbler", 14.99),
        ("Google Ceramic Mug", 9.99),
    ],
    "Office": [
        ("Google Ballpoint Pen", 1.99),
        ("Google Spiral Journal", 9.99),
        ("Google Sticky Note Pad", 3.99),
        ("Google Maze Pen", 2.49),
        ("Google Desk Notebook", 7.99),
    ],
    "Electronics": [
        ("Google Bluetooth Speaker", 39.99),
        ("Google Power Bank", 29.99),
        ("Google Earbuds", 24.99),
        ("Google 4GB USB Drive", 9.99),
        ("Google Phone Stand", 11.99),
    ],
    "Brands": [
        ("YouTube Custom Decals", 1.99),
        ("YouTube Leatherette Notebook Combo", 11.99),
        ("YouTube Trucker Hat", 21.99),
        ("YouTube Men's Fleece Hoodie Black", 49.99),
    ],
    "Lifestyle": [
        ("Google Sunglasses", 3.99),
        ("Google Umbrella", 24.99),
        ("Google Blanket", 34.99),
        ("Google Socks", 9.99),
    ],
}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "+", text.lower().replace("'", "")).strip("+")


@dataclass(frozen=True)
class Page:
    kind: int
    group: int
    path: str
    title: str
    host: str
    products: str  # the hit's ``product`` array, as JSON
    action: str  # the hit's ``eCommerceAction``, as JSON


def _product_json(
    name: str, group: str, price: float, sku: str, position: int | None, click: bool
) -> dict[str, Any]:
    micros = round(price * 1_000_000)
    return {
        "productSKU": sku,
        "v2ProductName": name,
        "v2ProductCategory": f"Home/{group}/",
        "productVariant": "(not set)",
        "productBrand": "(not set)",
        "productRevenue": None,
        "localProductRevenue": None,
        "productPrice": micros,
        "localProductPrice": micros,
        "productQuantity": None,
        "productRefundAmount": None,
        "localProductRefundAmount": None,
        "isImpression": None if click else True,
        "isClick": True if click else None,
        "customDimensions": [],
        "customMetrics": [],
        "productListName": "Category" if position else "(not set)",
        "productListPosition": position or 0,
        "productCouponCode": None,
    }


@lru_cache(maxsize=1)
def pages() -> tuple[Page, ...]:
    """The site: home, information and account pages, one category page per group, product pages."""
    out: list[Page] = []

    def add(kind: int, group: int, path: str, title: str, host: str = SHOP, products: str = "[]") -> None:
        a = ACTION[kind]
        action = dumps({"action_type": a[0], "step": a[1], "option": a[2]})
        out.append(Page(kind, group, path, title, host, products, action))

    add(HOME, 0, "/home", "Google Online Store", WWW)
    add(HOME, 0, "/store.html", "Home")
    add(INFO, 0, "/store-policies/frequently-asked-questions/home", "Frequently Asked Questions")
    add(INFO, 0, "/store-policies/shipping-information/home", "Shipping Information")
    add(SIGNIN, 0, "/signin.html", "The Google Merchandise Store - Log In")
    add(ACCOUNT, 0, "/myaccount.html", "My Account")
    add(BASKET, 0, "/basket.html", "Shopping Cart")
    add(CHECKOUT_INFO, 0, "/yourinfo.html", "Checkout Your Information")
    add(CHECKOUT_PAY, 0, "/payment.html", "Payment Method")
    add(CHECKOUT_REVIEW, 0, "/revieworder.html", "Checkout Review")
    add(DONE, 0, "/ordercompleted.html", "Checkout Confirmation")
    sku = 270
    for gi, group in enumerate(GROUPS[1:], start=1):
        items = _PRODUCTS[group]
        skus = []
        for _ in items:
            sku += 7
            skus.append(f"GGOEG{group[:2].upper()}X{sku:04d}")
        listing = [
            _product_json(n, group, p, s, i + 1, False)
            for i, ((n, p), s) in enumerate(zip(items, skus, strict=True))
        ]
        base = f"/google+redesign/{_slug(group)}"
        add(CATEGORY, gi, base, f"{group} | Google Merchandise Store", products=dumps(listing))
        for (name, price), s in zip(items, skus, strict=True):
            add(
                PRODUCT,
                gi,
                f"{base}/{_slug(name)}.axd",
                name,
                products=dumps([_product_json(name, group, price, s, None, True)]),
            )
    return tuple(out)


def content_groups() -> list[str]:
    """``contentGroup`` objects for (group, previous group or entrance): index group * (G + 1) + prev + 1."""
    out = []
    for g in GROUPS:
        for prev in ["(entrance)", *GROUPS]:
            cg: dict[str, Any] = {f"contentGroup{i}": "(not set)" for i in range(1, 6)}
            cg["contentGroup2"] = g
            for i in range(1, 6):
                cg[f"previousContentGroup{i}"] = prev if (i == 2 or prev == "(entrance)") else "(not set)"
            for i in range(1, 6):
                cg[f"contentGroupUniqueViews{i}"] = None
            out.append(dumps(cg))
    return out


def _ad_click(paid: bool) -> dict[str, Any]:
    return {
        "campaignId": None,
        "adGroupId": None,
        "creativeId": None,
        "criteriaId": None,
        "page": 1 if paid else None,
        "slot": "Top" if paid else None,
        "criteriaParameters": NA,
        "gclId": "EAIaIQobChMIh7PXtoOo1QIVl4qzCh3dWgKuEAAYAiAAEgJjPPD_BwE" if paid else None,
        "customerId": None,
        "adNetworkType": "Google Search" if paid else None,
        "targetingCriteria": None,
        "isVideoAd": False if paid else None,
    }


def _source(
    referral_path: str | None,
    campaign: str,
    source: str,
    medium: str,
    keyword: str | None,
    true_direct: bool | None,
    paid: bool = False,
) -> str:
    return dumps(
        {
            "referralPath": referral_path,
            "campaign": campaign,
            "source": source,
            "medium": medium,
            "keyword": keyword,
            "adContent": None,
            "adwordsClickInfo": _ad_click(paid),
            "isTrueDirect": true_direct,
            "campaignCode": None,
        }
    )


# (trafficSource JSON, channelGrouping, first hit's referer, weight)
TRAFFIC: list[tuple[str, str, str | None, float]] = [
    (
        _source(None, "(not set)", "google", "organic", "(not provided)", None),
        "Organic Search",
        "https://www.google.com/",
        58,
    ),
    (_source(None, "(not set)", "google", "organic", "(not provided)", True), "Organic Search", None, 12),
    (_source(None, "(not set)", "(direct)", "(none)", None, True), "Direct", None, 9),
    (
        _source(None, "AW - Dynamic Search Ads Whole Site", "google", "cpc", "6qEhsCssdK0z36ri", None, True),
        "Paid Search",
        "https://www.google.com/",
        5,
    ),
    (
        _source(
            "/corp/google.com/study/incentives/working-with-perks",
            "(not set)",
            "sites.google.com",
            "referral",
            None,
            None,
        ),
        "Referral",
        "https://sites.google.com/",
        4,
    ),
    (
        _source("/", "(not set)", "duckduckgo.com", "referral", None, None),
        "Referral",
        "https://duckduckgo.com/",
        2,
    ),
    (_source(None, "(not set)", "google", "cpm", None, None), "Display", None, 2),
    (
        _source("/yt/about/", "(not set)", "youtube.com", "referral", None, None),
        "Social",
        "https://www.youtube.com/",
        5,
    ),
    (
        _source(None, "(not set)", "google", "organic", "google merchandise store", None),
        "Organic Search",
        "https://www.google.com/",
        2,
    ),
    (
        _source(None, "(not set)", "bing", "organic", "(not provided)", None),
        "Organic Search",
        "https://www.bing.com/",
        1,
    ),
]

# (browser, operating system, is mobile, device category, weight)
DEVICES: list[tuple[str, str, bool, str, float]] = [
    ("Chrome", "Windows", False, "desktop", 34),
    ("Chrome", "Android", True, "mobile", 17),
    ("Chrome", "Macintosh", False, "desktop", 11),
    ("Safari", "Macintosh", False, "desktop", 6),
    ("Safari", "iOS", True, "mobile", 8),
    ("Firefox", "Windows", False, "desktop", 5),
    ("Chrome", "Linux", False, "desktop", 4),
    ("Safari", "iOS", True, "tablet", 2),
    ("Edge", "Windows", False, "desktop", 3),
    ("Firefox", "Android", True, "mobile", 1),
    ("UC Browser", "Android", True, "mobile", 1),
    ("Samsung Internet", "Android", True, "mobile", 2),
    ("Internet Explorer", "Windows", False, "desktop", 1),
]


def device_json(browser: str, os: str, mobile: bool, category: str) -> str:
    return dumps(
        {
            "browser": browser,
            "browserVersion": NA,
            "browserSize": NA,
            "operatingSystem": os,
            "operatingSystemVersion": NA,
            "isMobile": mobile,
            "mobileDeviceBranding": NA,
            "mobileDeviceModel": NA,
            "mobileInputSelector": NA,
            "mobileDeviceInfo": NA,
            "mobileDeviceMarketingName": NA,
            "flashVersion": NA,
            "javaEnabled": None,
            "language": NA,
            "screenColors": NA,
            "screenResolution": NA,
            "deviceCategory": category,
        }
    )


GEO = compile_template(
    {
        "continent": slot("continent"),
        "subContinent": slot("subContinent"),
        "country": slot("country"),
        "region": slot("region"),
        "metro": slot("metro"),
        "city": slot("city"),
        "cityId": NA,
        "networkDomain": slot("networkDomain"),
        "latitude": NA,
        "longitude": NA,
        "networkLocation": NA,
    }
)

NETWORK_DOMAINS = [
    "unknown.unknown",
    "(not set)",
    "comcast.net",
    "verizon.net",
    "rr.com",
    "att.net",
    "cox.net",
    "sfr.net",
    "wanadoo.fr",
    "telefonica.de",
    "kabel-deutschland.de",
    "btcentralplus.com",
    "virginm.net",
    "ocn.ne.jp",
    "bbtec.net",
    "vodafone.in",
    "actcorp.in",
    "telesp.net.br",
    "optusnet.com.au",
    "rogers.com",
    "bell.ca",
    "telia.com",
    "ziggo.nl",
    "vodafonedsl.it",
    "orange.es",
]


def custom_dimension(continent: str, subcontinent: str) -> str:
    """The view's custom dimension 4: the sales region of the visitor's country."""
    if continent == "Americas":
        region = (
            "North America"
            if subcontinent == "Northern America"
            else ("Central America" if subcontinent == "Central America" else "South America")
        )
    elif continent in ("Europe", "Africa") or subcontinent == "Western Asia":
        region = "EMEA"
    else:
        region = "APAC"
    return dumps([{"index": 4, "value": region}])
