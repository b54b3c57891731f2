"""The PBIR report (`StockPipe.Report/`): the local dashboard's pages, as Power BI visuals.

Pages: Market overview (slicers, KPI cards, price with moving averages), Compare symbols
(volume bars, % change heatmap, per-symbol measures) and Technical indicators (RSI with
30/70 lines, MACD). Every field a visual uses is a column or measure of the generated model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stockpipe.powerbi.base import (
    MODEL_FOLDER,
    PROJECT_NAME,
    REPORT_FOLDER,
    GeneratedFile,
    dump_json,
    schema_url,
    stable_name,
)
from stockpipe.powerbi.fields import Field, avg, col, lit, measure, text

# The oldest Power BI Desktop that opens this report is the one that shipped the newest of
# these PBIR schema versions: report 3.0.0, page 2.0.0 and visualContainer 2.4.0 came out
# between June and November 2025 (microsoft/json-schemas changelogs).
MINIMUM_DESKTOP = "November 2025"
VISUAL_SCHEMA = schema_url("item/report/definition/visualContainer/2.4.0/schema.json")
PAGE_SCHEMA = schema_url("item/report/definition/page/2.0.0/schema.json")
PAGES_SCHEMA = schema_url("item/report/definition/pagesMetadata/1.0.0/schema.json")
REPORT_SCHEMA = schema_url("item/report/definition/report/3.0.0/schema.json")
VERSION_SCHEMA = schema_url("item/report/definition/versionMetadata/1.0.0/schema.json")
PBIR_SCHEMA = schema_url("item/report/definitionProperties/2.0.0/schema.json")
PBIP_SCHEMA = schema_url("pbip/pbipProperties/1.0.0/schema.json")

PAGE_WIDTH, PAGE_HEIGHT = 1280, 720
THEME_FILE = "StockPipeTheme.json"


# --- visuals and pages -------------------------------------------------------------------


@dataclass
class Visual:
    key: str
    visual_type: str
    title: str
    x: int
    y: int
    width: int
    height: int
    roles: dict[str, list[Field]]
    objects: dict[str, Any] = field(default_factory=dict)
    sort_by: Field | None = None

    def fields(self) -> list[Field]:
        return [f for fs in self.roles.values() for f in fs]


@dataclass
class Page:
    key: str
    display_name: str
    visuals: list[Visual]

    @property
    def name(self) -> str:
        return stable_name("page", self.key)

    def visual_name(self, visual: Visual) -> str:
        return stable_name("visual", self.key, visual.key)


def _slicer(
    key: str, f: Field, title: str, x: int, y: int, *, single: bool, dropdown: bool
) -> Visual:
    objects: dict[str, Any] = {
        "data": [{"properties": {"mode": text("Dropdown" if dropdown else "Basic")}}],
        "selection": [{"properties": {"singleSelect": lit("true" if single else "false")}}],
    }
    return Visual(
        key, "slicer", title, x, y, 200, 90 if dropdown else 200, {"Values": [f]}, objects
    )


def _slicers(prefix: str, *, single_symbol: bool) -> list[Visual]:
    return [
        _slicer(
            f"{prefix}-symbol",
            col("symbols", "symbol"),
            "Symbol",
            10,
            10,
            single=single_symbol,
            dropdown=single_symbol,
        ),
        _slicer(
            f"{prefix}-interval",
            col("bars", "interval"),
            "Interval",
            10,
            110,
            single=True,
            dropdown=True,
        ),
        _slicer(
            f"{prefix}-session",
            col("sessions", "dt"),
            "Session date",
            10,
            210,
            single=False,
            dropdown=False,
        ),
    ]


def _card(key: str, m: str, table: str, x: int, y: int) -> Visual:
    return Visual(key, "card", m, x, y, 170, 90, {"Values": [measure(table, m)]})


def _reference_lines(values: list[float]) -> dict[str, Any]:
    # Constant lines of the analytics pane: RSI's 30 (oversold) and 70 (overbought).
    return {
        "y1AxisReferenceLine": [
            {
                "properties": {
                    "show": lit("true"),
                    "value": lit(f"{v:g}D"),
                    "displayName": text(f"{v:g}"),
                },
                "selector": {"id": str(i)},
            }
            for i, v in enumerate(values, start=1)
        ]
    }


def _heatmap_formatting(m: Field) -> dict[str, Any]:
    # Diverging colour scale centred on 0 % change: red below, white at 0, green above.
    rule = {
        "linearGradient3": {
            "min": {"color": text("#C0392B")["expr"]},
            "mid": {"color": text("#FFFFFF")["expr"], "value": lit("0D")["expr"]},
            "max": {"color": text("#1E8449")["expr"]},
            "nullColoringStrategy": {"strategy": text("noColor")["expr"]},
        }
    }
    fill = {"FillRule": {"Input": m.expression(), "FillRule": rule}}
    return {
        "values": [
            {
                "properties": {"backColor": {"solid": {"color": {"expr": fill}}}},
                "selector": {
                    "data": [{"dataViewWildcard": {"matchingOption": 1}}],
                    "metadata": m.query_ref,
                },
            }
        ]
    }


def pages() -> list[Page]:
    ts = col("bars", "ts")
    price_lines = [
        avg("bars", c)
        for c in ("close", "sma_20", "sma_50", "ema_12", "ema_26", "vwap", "bb_upper", "bb_lower")
    ]
    overview = Page(
        "overview",
        "Market overview",
        [
            *_slicers("overview", single_symbol=True),
            _card("kpi-last", "Last Price", "bars", 230, 10),
            _card("kpi-change", "Change %", "bars", 410, 10),
            _card("kpi-vwap", "Session VWAP", "bars", 590, 10),
            _card("kpi-volume", "Total Volume", "bars", 770, 10),
            _card("kpi-volatility", "Volatility", "daily", 950, 10),
            _card("kpi-crosses", "Golden Crosses", "bars", 1100, 10),
            Visual(
                "price",
                "lineChart",
                "Price with moving averages, VWAP and Bollinger bands",
                230,
                110,
                1040,
                360,
                {"Category": [ts], "Y": price_lines},
                sort_by=ts,
            ),
            Visual(
                "volume-over-time",
                "clusteredColumnChart",
                "Volume per bar",
                230,
                480,
                1040,
                230,
                {"Category": [ts], "Y": [Field("sum", "bars", "volume")]},
                sort_by=ts,
            ),
        ],
    )
    change = measure("bars", "Change %")
    compare = Page(
        "compare",
        "Compare symbols",
        [
            *_slicers("compare", single_symbol=False),
            Visual(
                "volume",
                "clusteredColumnChart",
                "Trading volume by symbol",
                230,
                10,
                520,
                300,
                {"Category": [col("symbols", "symbol")], "Y": [measure("bars", "Total Volume")]},
            ),
            Visual(
                "heatmap",
                "pivotTable",
                "Price movement heatmap: % change per symbol and session",
                760,
                10,
                510,
                300,
                {
                    "Rows": [col("symbols", "symbol")],
                    "Columns": [col("sessions", "dt")],
                    "Values": [change],
                },
                objects=_heatmap_formatting(change),
            ),
            Visual(
                "comparison",
                "lineChart",
                "Close by symbol",
                230,
                320,
                520,
                390,
                {
                    "Category": [ts],
                    "Y": [avg("bars", "close")],
                    "Series": [col("symbols", "symbol")],
                },
                sort_by=ts,
            ),
            Visual(
                "measures",
                "tableEx",
                "Measures per symbol",
                760,
                320,
                510,
                390,
                {
                    "Values": [
                        col("symbols", "symbol"),
                        measure("bars", "Last Price"),
                        change,
                        measure("bars", "Session VWAP"),
                        measure("bars", "Total Volume"),
                        measure("daily", "Avg Daily Range %"),
                        measure("daily", "Volatility"),
                        measure("bars", "Golden Crosses"),
                    ]
                },
            ),
        ],
    )
    technicals = Page(
        "technicals",
        "Technical indicators",
        [
            *_slicers("technicals", single_symbol=True),
            Visual(
                "rsi",
                "lineChart",
                "RSI (14) with 30/70 bands",
                230,
                10,
                1040,
                330,
                {"Category": [ts], "Y": [avg("bars", "rsi_14")]},
                objects=_reference_lines([30, 70]),
                sort_by=ts,
            ),
            Visual(
                "macd",
                "lineClusteredColumnComboChart",
                "MACD (12, 26, 9): histogram, MACD and signal",
                230,
                350,
                1040,
                360,
                {
                    "Category": [ts],
                    "Y": [avg("bars", "macd_hist")],
                    "Y2": [avg("bars", "macd"), avg("bars", "macd_signal")],
                },
                sort_by=ts,
            ),
        ],
    )
    return [overview, compare, technicals]


def visual_json(page: Page, visual: Visual, z: int) -> dict[str, Any]:
    query: dict[str, Any] = {
        "queryState": {
            role: {"projections": [f.projection() for f in fs]} for role, fs in visual.roles.items()
        }
    }
    if visual.sort_by is not None:
        query["sortDefinition"] = {
            "sort": [{"field": visual.sort_by.expression(), "direction": "Ascending"}],
            "isDefaultSort": True,
        }
    body: dict[str, Any] = {"visualType": visual.visual_type, "query": query}
    if visual.objects:
        body["objects"] = visual.objects
    body["visualContainerObjects"] = {
        "title": [{"properties": {"show": lit("true"), "text": text(visual.title)}}]
    }
    body["drillFilterOtherVisuals"] = True
    return {
        "$schema": VISUAL_SCHEMA,
        "name": page.visual_name(visual),
        "position": {
            "x": visual.x,
            "y": visual.y,
            "z": z,
            "height": visual.height,
            "width": visual.width,
            "tabOrder": z,
        },
        "visual": body,
    }


def _theme() -> dict[str, Any]:
    return {
        "name": PROJECT_NAME,
        "dataColors": [
            "#1F77B4",
            "#FF7F0E",
            "#2CA02C",
            "#D62728",
            "#9467BD",
            "#8C564B",
            "#E377C2",
            "#7F7F7F",
        ],
        "good": "#1E8449",
        "bad": "#C0392B",
        "neutral": "#FFFFFF",
    }


def report_files() -> list[GeneratedFile]:
    base = f"{REPORT_FOLDER}/definition"
    all_pages = pages()
    files = [
        GeneratedFile(
            f"{REPORT_FOLDER}/definition.pbir",
            dump_json(
                {
                    "$schema": PBIR_SCHEMA,
                    "version": "4.0",
                    "datasetReference": {"byPath": {"path": f"../{MODEL_FOLDER}"}},
                }
            ),
        ),
        GeneratedFile(
            f"{base}/version.json", dump_json({"$schema": VERSION_SCHEMA, "version": "2.0.0"})
        ),
        GeneratedFile(
            f"{base}/report.json",
            dump_json(
                {
                    "$schema": REPORT_SCHEMA,
                    "themeCollection": {
                        "customTheme": {
                            "name": THEME_FILE,
                            "reportVersionAtImport": {
                                "visual": "2.4.0",
                                "page": "2.0.0",
                                "report": "3.0.0",
                            },
                            "type": "RegisteredResources",
                        }
                    },
                    "resourcePackages": [
                        {
                            "name": "RegisteredResources",
                            "type": "RegisteredResources",
                            "items": [
                                {"name": THEME_FILE, "path": THEME_FILE, "type": "CustomTheme"}
                            ],
                        }
                    ],
                    "settings": {
                        "useStylableVisualContainerHeader": True,
                        "defaultDrillFilterOtherVisuals": True,
                    },
                }
            ),
        ),
        GeneratedFile(
            f"{REPORT_FOLDER}/StaticResources/RegisteredResources/{THEME_FILE}", dump_json(_theme())
        ),
        GeneratedFile(
            f"{base}/pages/pages.json",
            dump_json(
                {
                    "$schema": PAGES_SCHEMA,
                    "pageOrder": [p.name for p in all_pages],
                    "activePageName": all_pages[0].name,
                }
            ),
        ),
    ]
    for page in all_pages:
        files.append(
            GeneratedFile(
                f"{base}/pages/{page.name}/page.json",
                dump_json(
                    {
                        "$schema": PAGE_SCHEMA,
                        "name": page.name,
                        "displayName": page.display_name,
                        "displayOption": "FitToPage",
                        "height": PAGE_HEIGHT,
                        "width": PAGE_WIDTH,
                    }
                ),
            )
        )
        for z, visual in enumerate(page.visuals):
            files.append(
                GeneratedFile(
                    f"{base}/pages/{page.name}/visuals/{page.visual_name(visual)}/visual.json",
                    dump_json(visual_json(page, visual, z * 1000)),
                )
            )
    return files


def pbip_file() -> GeneratedFile:
    doc = {
        "$schema": PBIP_SCHEMA,
        "version": "1.0",
        "artifacts": [{"report": {"path": REPORT_FOLDER}}],
        "settings": {"enableAutoRecovery": True},
    }
    return GeneratedFile(f"{PROJECT_NAME}.pbip", dump_json(doc))
