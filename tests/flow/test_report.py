"""The accuracy × cost report (numfmt.flow.report): files, tables, escaping, a browser."""

import html.parser
import shutil
import subprocess

import pytest

from numfmt.flow import report

pytest.importorskip("jinja2")
pytest.importorskip("matplotlib")


def _recs():
    return [
        {"label": "int4", "family": "int", "bits": 4, "accuracy": 0.95, "luts": 40, "method": "rtn",
         "verilog": "units/int4/unit.v"},
        {"label": "fp4_e2m1", "family": "minifloat", "bits": 4, "accuracy": 0.96, "luts": 70, "method": "gptq"},
        {"label": "fp4_e3m0", "family": "minifloat", "bits": 4, "accuracy": 0.90, "luts": 60, "method": "rtn"},
        {"label": "ap_fixed<4,1>", "family": "fixed", "bits": 4, "accuracy": float("nan"), "luts": 41},
    ]


class _Tables(html.parser.HTMLParser):
    """Rows of each table (by id) as lists of cell texts; links by cell."""

    def __init__(self):
        super().__init__()
        self.tables, self.links, self._table, self._row, self._cell = {}, [], None, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._table = self.tables.setdefault(a["id"], [])
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""
        elif tag == "a":
            self.links.append(a["href"])

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._table.append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None


def test_writes_plot_page_and_summary(tmp_path):
    paths = report.write(tmp_path, _recs(), title="digits MLP", meta={"model": "mlp"})
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = _Tables()
    page.feed(paths["html"].read_text())
    front, points = page.tables["front"], page.tables["points"]
    assert [r[0] for r in front[1:]] == ["int4", "fp4_e2m1"]                  # by LUTs; e3m0 dominated
    assert [r[0] for r in points[1:]] == ["int4", "ap_fixed<4,1>", "fp4_e3m0", "fp4_e2m1"]
    assert points[0][:3] == ["point", "family", "bits"] and "test acc. %" in points[0]
    assert points[2][points[0].index("test acc. %")] == "n/a"
    assert page.links == ["units/int4/unit.v"] * 2                            # front and all points
    text = paths["html"].read_text()
    assert "ap_fixed&lt;4,1&gt;" in text and "ap_fixed<4,1>" not in text    # escaped
    assert "4 bits: both on the front — integer int4, minifloat fp4_e2m1" in text
    md = paths["markdown"].read_text()
    assert "| int4 | int | 4 | rtn | 95.00 | 40 |" in md and "fp4_e3m0" not in md


def test_front_mask_from_the_caller(tmp_path):
    paths = report.write(tmp_path, _recs(), title="t", front=[False, False, True, False])
    page = _Tables()
    page.feed(paths["html"].read_text())
    assert [r[0] for r in page.tables["front"][1:]] == ["fp4_e3m0"]


@pytest.mark.parametrize("records, front, match", [
    ([], None, "records is empty"),
    ([{"label": "x", "family": "int", "bits": 4, "accuracy": 0.5}], None, r"records\[0\] lacks luts"),
    (_recs(), [True], "front must be a mask of 4 booleans"),
])
def test_bad_input(tmp_path, records, front, match):
    with pytest.raises(ValueError, match=match):
        report.write(tmp_path, records, title="t", front=front)
    assert not (tmp_path / "index.html").exists()


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="headless Chromium is not installed (apt-get install chromium)")
def test_page_loads_in_headless_chromium(tmp_path):
    paths = report.write(tmp_path, _recs(), title="digits MLP")
    browser = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
               "--v=0", "--allow-file-access-from-files"]
    url = paths["html"].as_uri()
    dom = subprocess.run(browser + ["--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == [], console
    assert 'data-plot="loaded"' in dom.stdout                  # the PNG was found and decoded
    page = _Tables()
    page.feed(dom.stdout)
    assert [r[0] for r in page.tables["front"][1:]] == ["int4", "fp4_e2m1"]
    shot = tmp_path / "shot.png"
    run = subprocess.run(browser + [f"--screenshot={shot}", "--window-size=1200,1400", url],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and shot.read_bytes()[:4] == b"\x89PNG", run.stderr[-2000:]


def test_accelerator_columns_and_links(tmp_path):
    recs = _recs()
    recs[0].update(acc_luts=1920, accel_verified="yes, 20 images", accel_verilog="accel/int4/acc.v",
                   accel_verification="accel/int4/verification.json")
    recs[1].update(acc_luts=3360, accel_verified="cannot build: node 'dense0': weights must be integers")
    paths = report.write(tmp_path, recs, title="t", front=[True, True, False, False], xlabel="LUTs per MAC lane")
    page = _Tables()
    page.feed(paths["html"].read_text())
    head, *rows = page.tables["front"]
    cols = {h: k for k, h in enumerate(head)}
    assert {"LUTs (accel.)", "accelerator", "accel. Verilog", "accel. verification"} <= set(cols)
    assert [r[cols["LUTs (accel.)"]] for r in rows] == ["1920", "3360"]
    assert [r[cols["accelerator"]] for r in rows] == ["yes, 20 images",
                                                       "cannot build: node 'dense0': weights must be integers"]
    assert "accel/int4/acc.v" in page.links and "accel/int4/verification.json" in page.links
    md = paths["markdown"].read_text()
    assert "| accelerator |" in md and "accel/int4/acc.v" not in md      # links only in the HTML
