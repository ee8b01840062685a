"""`tripguard fit-fare`: read, clean, fit, report, optionally write the tariff table."""

from __future__ import annotations

import json
from pathlib import Path

from tripguard.config.files import load_toml
from tripguard.errors import ConfigError
from tripguard.fare.fit import FitResult, fit_tariff, replace_city_tables, tariff_toml
from tripguard.fare.readers import CleanReport, read_trips
from tripguard.fare.tariff import load_tariffs, tariff_from_table


def run_fit_fare(
    *,
    trips: Path,
    city: str,
    out: Path | None = None,
    currency: str | None = None,
    tariffs: Path | None = None,
    as_json: bool = False,
) -> str:
    known = load_tariffs(tariffs)
    shipped = known.get(city)
    if currency is None:
        if shipped is None:
            raise ConfigError(f"--currency is required: no tariff for {city!r} to take it from")
        currency = shipped.currency
    if len(currency) != 3 or not currency.isupper():
        raise ConfigError(f"--currency must be an ISO 4217 code like USD, got {currency!r}")
    frame, clean = read_trips(trips, city=city, currency=currency)
    source = f"tripguard fit-fare --trips {Path(trips).name} --city {city} (held-out rows)"
    result = fit_tariff(frame, currency, source, shipped=shipped)
    if out is not None:
        write_tariff(out, city, result, clean, trips)
    if as_json:
        return json.dumps(
            {"city": city, "trips": str(trips), "cleaning": clean.as_dict(), **result.as_dict()}, indent=2
        )
    return render_text(city, trips, clean, result, out)


def write_tariff(out: Path, city: str, result: FitResult, clean: CleanReport, trips: Path) -> None:
    comment = (
        f"Fitted by `tripguard fit-fare --trips {Path(trips).name} --city {city}`: {clean.rows_kept} of "
        f"{clean.rows_read} rows after cleaning,\nheld-out MAPE {result.fitted.mape:.1%} "
        f"(distance-only baseline {result.baseline.mape:.1%})."
    )
    block = tariff_toml(city, result.tariff, comment)
    text = out.read_text() if out.exists() else ""
    new_text = replace_city_tables(text, city, block)
    # Never leave a file behind that tripguard itself cannot load.
    import tomllib

    try:
        tables = tomllib.loads(new_text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{out}: refusing to write, the result would not be valid TOML: {exc}") from None
    tariff_from_table(tables[city], f"{out} [{city}]")
    out.write_text(new_text)
    load_toml(out)


def _pct(x: float) -> str:
    return f"{x * 100:.1f} %"


def render_text(city: str, trips: Path, clean: CleanReport, result: FitResult, out: Path | None) -> str:
    t = result.tariff
    lines = [
        f"fit-fare {city}: {trips} ({clean.layout} layout)",
        f"rows read {clean.rows_read}, kept {clean.rows_kept}, dropped {clean.rows_read - clean.rows_kept}:",
    ]
    lines += [f"  {n:6d}  {reason}" for reason, n in clean.dropped.items()] or ["  none"]
    lines += [
        f"split by row hash: {result.train_rows} training, {result.test_rows} held-out rows",
        "",
        f"fitted tariff ({t.currency}): base {t.base:.4f}  per_km {t.per_km:.4f}  per_min {t.per_min:.4f}  "
        f"minimum {t.minimum:.2f}",
        f"distance-only baseline: base {result.baseline_coefficients['base']:.4f}  "
        f"per_km {result.baseline_coefficients['per_km']:.4f}",
    ]
    r = t.residual
    if r is not None:
        lines.append(
            f"residual ln(fare/expected), held-out: center {r.center:+.4f}  scale {r.scale:.4f}  "
            f"ratio p99 {r.ratio_p99:.4f}  (n={r.n})"
        )
    lines.append(
        "held-out rows with fare/expected above: " + "  ".join(f"{k}: {_pct(v)}" for k, v in result.share_above.items())
    )
    lines += ["", f"held-out rows (n={result.fitted.n})      MAE     MAPE      R2"]
    rows = [("fitted tariff", result.fitted), ("distance-only baseline", result.baseline)]
    if result.shipped is not None:
        rows.append((f"current [{city}] table", result.shipped))
    lines += [f"  {name:24s} {m.mae:6.3f} {_pct(m.mape):>8s} {m.r2:7.4f}" for name, m in rows]
    if out is not None:
        lines += ["", f"wrote [{city}] and [{city}.residual] to {out}"]
    return "\n".join(lines)
