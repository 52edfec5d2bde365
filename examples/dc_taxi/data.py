"""A synthetic stand-in for the DC taxi trips of the book's chapters 11 and 12.

Same columns as the seed data set (``fareamount``, origin and destination block latitude and
longitude, ``year``, ``month``, ``dayofweek``, ``hour``), with a fare built the way DC cabs
charged: a flag drop, a per-mile rate on the road distance (about 1.3 times the straight
line), a per-minute charge that grows in rush-hour traffic, an airport surcharge, and noise.
A few percent of the coordinates are missing, so the data preparation stage has a choice to
make (drop those rows, or fill in the column mean).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

COLUMNS = ["fareamount", "origin_block_latitude", "origin_block_longitude",
           "destination_block_latitude", "destination_block_longitude", "year", "month",
           "dayofweek", "hour"]
COORDINATES = COLUMNS[1:5]

# Where trips start and end: downtown, Union Station, Georgetown, Dupont Circle, Navy Yard,
# Reagan National Airport (latitude, longitude, spread in degrees, share of trip ends).
_HOTSPOTS = np.array([
    (38.9007, -77.0336, 0.010, 0.30),
    (38.8973, -77.0063, 0.006, 0.15),
    (38.9055, -77.0628, 0.007, 0.12),
    (38.9096, -77.0434, 0.006, 0.13),
    (38.8764, -77.0030, 0.006, 0.08),
    (38.8512, -77.0402, 0.004, 0.07),
])
_UNIFORM_SHARE = 0.15  # the rest: anywhere in the city's bounding box
_BOUNDS = ((38.80, 38.99), (-77.12, -76.91))
_AIRPORT = _HOTSPOTS[5, :2]
_MISSING_SHARE = 0.04


def _trip_ends(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    shares = np.append(_HOTSPOTS[:, 3], _UNIFORM_SHARE)
    which = rng.choice(len(shares), size=n, p=shares / shares.sum())
    lat = rng.uniform(*_BOUNDS[0], size=n)
    lon = rng.uniform(*_BOUNDS[1], size=n)
    spot = which < len(_HOTSPOTS)
    centres = _HOTSPOTS[which[spot]]
    lat[spot] = rng.normal(centres[:, 0], centres[:, 2])
    lon[spot] = rng.normal(centres[:, 1], centres[:, 2] * 1.3)
    # Block coordinates: the data set rounds them to city blocks (about 100 m).
    return np.round(lat, 3), np.round(lon, 3)


def generate_trips(n_rows: int, seed: int = 0) -> pd.DataFrame:
    """``n_rows`` synthetic trips with the seed data set's columns and missing coordinates."""
    rng = np.random.default_rng(seed)
    origin_lat, origin_lon = _trip_ends(rng, n_rows)
    dest_lat, dest_lon = _trip_ends(rng, n_rows)
    hour = rng.choice(24, size=n_rows, p=_hour_weights())
    dayofweek = rng.integers(0, 7, size=n_rows)
    year = rng.integers(2015, 2020, size=n_rows)
    month = rng.integers(1, 13, size=n_rows)

    km_per_degree_lon = 111.32 * np.cos(np.radians(38.9))
    straight_km = np.hypot((dest_lat - origin_lat) * 110.57,
                           (dest_lon - origin_lon) * km_per_degree_lon)
    road_miles = np.maximum(straight_km * 1.3, 0.3) / 1.609
    weekday = dayofweek < 5
    rush = weekday & (((hour >= 7) & (hour <= 9)) | ((hour >= 16) & (hour <= 19)))
    speed_mph = np.where(rush, 11.0, np.where((hour >= 22) | (hour <= 5), 24.0, 16.0))
    minutes = road_miles / speed_mph * 60 * rng.lognormal(0.0, 0.15, size=n_rows)
    near_airport = np.minimum(np.hypot(origin_lat - _AIRPORT[0], origin_lon - _AIRPORT[1]),
                              np.hypot(dest_lat - _AIRPORT[0], dest_lon - _AIRPORT[1])) < 0.01
    fare = (3.25 + 2.16 * road_miles + 0.12 * minutes + 0.25 * rush * minutes
            + 1.0 * (year >= 2017) + 2.0 * near_airport)
    fare = np.round(np.maximum(fare + rng.normal(0.0, 1.0, size=n_rows), 3.25), 2)

    frame = pd.DataFrame({
        "fareamount": fare, "origin_block_latitude": origin_lat,
        "origin_block_longitude": origin_lon, "destination_block_latitude": dest_lat,
        "destination_block_longitude": dest_lon, "year": year, "month": month,
        "dayofweek": dayofweek, "hour": hour}, columns=COLUMNS)
    for column in COORDINATES:
        frame.loc[rng.random(n_rows) < _MISSING_SHARE, column] = np.nan
    return frame


def _hour_weights() -> np.ndarray:
    """More trips in the day and the evening than at night."""
    hours = np.arange(24)
    weights = 0.3 + np.exp(-((hours - 9) / 3.0) ** 2) + 1.3 * np.exp(-((hours - 19) / 3.5) ** 2)
    return weights / weights.sum()


def ensure_csv(folder: str, n_rows: int, seed: int = 0) -> str:
    """The path of a CSV of ``generate_trips(n_rows, seed)`` in ``folder``, written once (its
    name holds the rows and seed, so a different size is a different file)."""
    path = os.path.join(folder, f"dc_taxi_{n_rows}_{seed}.csv")
    if not os.path.exists(path):
        os.makedirs(folder, exist_ok=True)
        temp = f"{path}.tmp-{os.getpid()}"
        generate_trips(n_rows, seed).to_csv(temp, index=False)
        os.replace(temp, path)
    return path
