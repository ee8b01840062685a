"""Runs inside a baseline's own venv (its pins conflict with tripguard's): reads the fixes from an
.npz file, times the library's speed/outlier filter, prints one JSON line.

    python run_baseline.py movingpandas|skmob FILE.npz MAX_SPEED_KMH REPEAT
"""

import json
import sys
import time
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")


def frame(path):
    z = np.load(path)
    return pd.DataFrame({"trip": z["slot"], "ts": pd.to_datetime(z["ts"], unit="ms"), "lat": z["lat"], "lon": z["lon"]})


def movingpandas(df, max_kmh, repeat):
    import geopandas as gpd
    import movingpandas as mpd

    t = time.perf_counter()
    gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df.lon, df.lat), crs=4326)
    tc = mpd.TrajectoryCollection(gdf, "trip", t="ts")
    build = time.perf_counter() - t
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        cleaned = mpd.OutlierCleaner(tc).clean(v_max=max_kmh, units=("km", "h"))
        best = min(best, time.perf_counter() - t)
    kept = sum(len(tr.df) for tr in cleaned.trajectories)
    return {
        "library": f"movingpandas {mpd.__version__} OutlierCleaner.clean(v_max={max_kmh} km/h)",
        "build_s": build,
        "filter_s": best,
        "fixes_kept": kept,
    }


def skmob(df, max_kmh, repeat):
    import skmob as sk
    from skmob.preprocessing import filtering

    t = time.perf_counter()
    tdf = sk.TrajDataFrame(df, latitude="lat", longitude="lon", datetime="ts", user_id="trip")
    build = time.perf_counter() - t
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = filtering.filter(tdf, max_speed_kmh=max_kmh)
        best = min(best, time.perf_counter() - t)
    return {
        "library": f"scikit-mobility {sk.__version__} preprocessing.filtering.filter(max_speed_kmh={max_kmh})",
        "build_s": build,
        "filter_s": best,
        "fixes_kept": int(len(out)),
    }


if __name__ == "__main__":
    name, path, max_kmh, repeat = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    df = frame(path)
    result = {"movingpandas": movingpandas, "skmob": skmob}[name](df, max_kmh, repeat)
    result["fixes"] = int(len(df))
    print(json.dumps(result))
