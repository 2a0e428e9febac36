"""Offline GeoIP (geoip2fast ships its country database in the package) and approximate
country centroids, enough to call a country change over a few hours impossible travel."""
from __future__ import annotations

import math
import threading

_lock = threading.Lock()
_geo = None

# (lat, lon) of populated centres; countries missing here simply skip the travel rule.
CENTROIDS: dict[str, tuple[float, float]] = {
    "US": (39.8, -98.6), "CA": (56.1, -106.3), "MX": (23.6, -102.6), "BR": (-14.2, -51.9), "AR": (-38.4, -63.6),
    "CL": (-35.7, -71.5), "CO": (4.6, -74.3), "PE": (-9.2, -75.0), "GB": (54.0, -2.0), "IE": (53.4, -8.2),
    "FR": (46.2, 2.2), "DE": (51.2, 10.4), "NL": (52.1, 5.3), "BE": (50.5, 4.5), "ES": (40.5, -3.7),
    "PT": (39.4, -8.2), "IT": (41.9, 12.6), "CH": (46.8, 8.2), "AT": (47.5, 14.6), "PL": (51.9, 19.1),
    "SE": (60.1, 18.6), "NO": (60.5, 8.5), "FI": (61.9, 25.7), "DK": (56.3, 9.5), "CZ": (49.8, 15.5),
    "RU": (55.8, 37.6), "UA": (48.4, 31.2), "TR": (39.0, 35.2), "IL": (31.0, 34.9), "SA": (23.9, 45.1),
    "AE": (23.4, 53.8), "EG": (26.8, 30.8), "ZA": (-30.6, 22.9), "NG": (9.1, 8.7), "KE": (-0.0, 37.9),
    "IN": (20.6, 79.0), "PK": (30.4, 69.3), "BD": (23.7, 90.4), "CN": (35.9, 104.2), "HK": (22.3, 114.2),
    "TW": (23.7, 121.0), "JP": (36.2, 138.3), "KR": (35.9, 127.8), "SG": (1.35, 103.8), "MY": (4.2, 101.98),
    "TH": (15.9, 100.99), "VN": (14.1, 108.3), "ID": (-0.8, 113.9), "PH": (12.9, 121.8), "AU": (-25.3, 133.8),
    "NZ": (-40.9, 174.9),
}


def country_of(ip: str | None) -> str:
    """ISO country code, or "" for private, reserved or unknown addresses."""
    global _geo
    if not ip:
        return ""
    if _geo is None:
        with _lock:
            if _geo is None:
                from geoip2fast import GeoIP2Fast

                _geo = GeoIP2Fast(verbose=False)
    try:
        result = _geo.lookup(ip)
    except Exception:  # noqa: BLE001 - a lookup failure means "unknown", never an error
        return ""
    code = getattr(result, "country_code", "") or ""
    return code if len(code) == 2 and code.isalpha() else ""


def distance_km(a: str, b: str) -> float | None:
    if a not in CENTROIDS or b not in CENTROIDS:
        return None
    (lat1, lon1), (lat2, lon2) = CENTROIDS[a], CENTROIDS[b]
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371 * math.asin(math.sqrt(h))
