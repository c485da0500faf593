"""The post explorer: pick a run and a post (filter by absent / unseen / wrong) and see the image, the text,
the gold keyphrases, every run's prediction and the model's reasoning.

Three layers, so the data can be tested without a kernel and the static report
still shows something when no widget callback runs:

- `build_views(gold, runs, train)` joins gold posts with every run's
  predictions into `PostView`s (pure data); `filter_views` selects them.
- `explorer(views)` builds the ipywidgets UI (JupyterLab): run and filter
  dropdowns, a post slider, an Image and an HTML pane.
- `static_gallery_html(views, n=8)` renders a few chosen posts into one HTML
  block with the images inlined as base64 PNG: what the rendered report shows.

    from mmkp_lib.explorer import build_views, explorer, static_gallery_html
    views = build_views(test_posts, runs, train_posts)
    explorer(views)                       # interactive, in JupyterLab
    static_gallery_html(views, n=8)       # precomputed, for nbconvert's HTML
"""
from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from mmkp_lib.analysis.runset import Run, check_runs, display_label
from mmkp_lib.analysis.tables import Tables, build_tables
from mmkp_lib.prompts import parse_output
from mmkp_lib.records import Post

FILTERS = ("all", "absent", "unseen", "wrong", "absent & wrong", "unseen & wrong", "reasoned")
_NEED_RUN = ("wrong", "absent & wrong", "unseen & wrong", "reasoned")


@dataclass
class GoldView:
    keyphrase: str
    present: bool
    seen: bool | None  # None: no training posts were given
    train_freq: int | None
    role: str | None = None


@dataclass
class RunView:
    run: str
    label: str
    seed: int | None
    predictions: list[tuple[str, bool]]  # cleaned predictions in model order, with correct or not
    found: list[bool]  # per gold keyphrase of the post (PostView.gold order): did this run predict it
    reasoned: bool = False
    reasoning: str | None = None  # the text inside <think>..</think>
    raw: str = ""
    think_tokens: int | None = None

    @property
    def perfect(self) -> bool:
        """Every gold keyphrase found and nothing else predicted."""
        return all(self.found) and all(ok for _, ok in self.predictions)

    @property
    def wrong(self) -> bool:
        return not self.perfect

    @property
    def title(self) -> str:
        return display_label(self.label) + (f" (seed {self.seed})" if self.seed is not None else "")


@dataclass
class PostView:
    id: str
    text: str
    image: str | None
    gold: list[GoldView]
    runs: dict[str, RunView] = field(default_factory=dict)

    @property
    def absent(self) -> bool:
        """The post has a gold keyphrase not present in its text."""
        return any(not g.present for g in self.gold)

    @property
    def unseen(self) -> bool:
        """The post has a gold keyphrase not among the training keyphrases (False without training posts)."""
        return any(g.seen is False for g in self.gold)

    def wrong(self, run: str) -> bool:
        return self._run(run).wrong

    def _run(self, run: str) -> RunView:
        if run not in self.runs:
            raise KeyError(f"post {self.id} has no prediction of run {run!r}; runs: {', '.join(self.runs)}")
        return self.runs[run]


def build_views(gold: Sequence[Post], runs: Sequence[Run], train: Iterable[Post] | None = None,
                tables: Tables | None = None) -> list[PostView]:
    """One PostView per gold post, in gold order, holding every run's prediction (see `mmkp_lib.analysis.tables`)."""
    runs = check_runs(runs)
    tables = tables if tables is not None else build_tables(gold, runs, train)
    views = {p.id: PostView(p.id, p.text, p.image, []) for p in gold}
    for r in tables.gold.itertuples(index=False):
        seen = None if r.seen is None or r.seen != r.seen else bool(r.seen)  # r.seen != r.seen: NaN
        freq = None if r.train_freq != r.train_freq else int(r.train_freq)
        views[r.id].gold.append(GoldView(r.keyphrase, bool(r.present), seen, freq, r.role))
    found: dict[tuple[str, str], list[bool]] = {}
    for r in tables.correctness.itertuples(index=False):
        found.setdefault((r.run, r.id), []).append(bool(r.matched))
    predicted: dict[tuple[str, str], list[tuple[str, bool]]] = {}
    for r in tables.predictions.sort_values(["run", "id", "rank"]).itertuples(index=False):
        predicted.setdefault((r.run, r.id), []).append((r.prediction, bool(r.correct)))
    for run in runs:
        records = {}
        for rec in run.predictions:
            records.setdefault(rec["id"], rec)
        for pid, view in views.items():
            rec = records.get(pid, {})
            raw = rec.get("raw") or ""
            think = parse_output(raw).think if raw else None
            tokens = rec.get("think_tokens")
            view.runs[run.name] = RunView(run.name, run.label, run.seed, predicted.get((run.name, pid), []),
                                          found.get((run.name, pid), []), bool(rec.get("reasoned", False)), think,
                                          raw, None if tokens is None else int(tokens))
    return list(views.values())


def filter_views(views: Sequence[PostView], kind: str = "all", run: str | None = None) -> list[PostView]:
    """The posts a filter keeps: all, absent, unseen, wrong (by `run`), absent & wrong, unseen & wrong, reasoned."""
    if kind not in FILTERS:
        raise ValueError(f"unknown filter {kind!r}; choose one of {', '.join(FILTERS)}")
    if kind in _NEED_RUN and run is None:
        raise ValueError(f"filter {kind!r} judges one run's predictions: pass run=<run name>")
    keep = {
        "all": lambda v: True,
        "absent": lambda v: v.absent,
        "unseen": lambda v: v.unseen,
        "wrong": lambda v: v.wrong(run),
        "absent & wrong": lambda v: v.absent and v.wrong(run),
        "unseen & wrong": lambda v: v.unseen and v.wrong(run),
        "reasoned": lambda v: v._run(run).reasoned,
    }[kind]
    return [v for v in views if keep(v)]


def pick_views(views: Sequence[PostView], n: int, runs: Sequence[str] | None = None) -> list[PostView]:
    """n posts worth showing, deterministically: round-robin over unseen & wrong, absent & wrong, wrong,
    unseen, absent, any (wrong = some of `runs` errs), each in gold order, no post twice."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    names = list(runs) if runs is not None else (list(views[0].runs) if views else [])

    def wrong(v: PostView) -> bool:
        return any(v.runs[r].wrong for r in names if r in v.runs)

    pools = [[v for v in views if test(v)] for test in (
        lambda v: v.unseen and wrong(v), lambda v: v.absent and wrong(v), wrong,
        lambda v: v.unseen, lambda v: v.absent, lambda v: True)]
    chosen: list[PostView] = []
    taken: set[str] = set()
    cursors = [0] * len(pools)
    while len(chosen) < min(n, len(views)):
        for i, pool in enumerate(pools):
            while cursors[i] < len(pool) and pool[cursors[i]].id in taken:
                cursors[i] += 1
            if cursors[i] < len(pool) and len(chosen) < n:
                chosen.append(pool[cursors[i]])
                taken.add(pool[cursors[i]].id)
    return chosen


# ---------------------------------------------------------------- rendering

_CSS = """<style>
.mmkp-x {font-family: sans-serif; font-size: 13px; line-height: 1.4}
.mmkp-x .post {display: flex; gap: 14px; align-items: flex-start; border-top: 1px solid #ddd; padding: 10px 0}
.mmkp-x img {width: 160px; height: auto; image-rendering: pixelated; border: 1px solid #ccc}
.mmkp-x .chip {display: inline-block; border-radius: 4px; padding: 0 5px; margin: 1px 2px; border: 1px solid #bbb}
.mmkp-x .ok {background: #d9f2d9; border-color: #7c7} .mmkp-x .bad {background: #f8dada; border-color: #d77}
.mmkp-x .flag {font-size: 10px; color: #555; margin-left: 3px}
.mmkp-x table {border-collapse: collapse} .mmkp-x td {padding: 2px 6px; vertical-align: top}
.mmkp-x details {color: #444; max-width: 600px}
</style>"""


def image_png_bytes(path: str, max_side: int = 256) -> bytes:
    """The image as PNG bytes, shrunk to at most max_side pixels a side (small images stay as they are)."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        im.thumbnail((max_side, max_side))
        buf = io.BytesIO()
        im.save(buf, format="PNG")
    return buf.getvalue()


def image_data_uri(path: str, max_side: int = 256) -> str:
    return "data:image/png;base64," + base64.b64encode(image_png_bytes(path, max_side)).decode("ascii")


def _gold_html(view: PostView) -> str:
    chips = []
    for g in view.gold:
        flags = ["present" if g.present else "absent"]
        if g.seen is not None:
            flags.append(f"seen {g.train_freq}x" if g.seen else "unseen")
        if g.role:
            flags.append(g.role)
        chips.append(f'<span class="chip">{html.escape(g.keyphrase)}<span class="flag">{", ".join(flags)}</span></span>')
    return " ".join(chips) or "<i>none</i>"


def _run_row(rv: RunView, expand: bool) -> str:
    preds = " ".join(f'<span class="chip {"ok" if ok else "bad"}">{"&#10003;" if ok else "&#10007;"} '
                     f'{html.escape(kp)}</span>' for kp, ok in rv.predictions) or "<i>no keyphrase</i>"
    missed = sum(not f for f in rv.found)
    extra = f' <span class="flag">missed {missed}</span>' if missed else ""
    reasoning = ""
    if rv.reasoning:
        tokens = f" ({rv.think_tokens} tokens)" if rv.think_tokens is not None else ""
        reasoning = (f'<details{" open" if expand else ""}><summary>reasoning{tokens}</summary>'
                     f'{html.escape(rv.reasoning)}</details>')
    return f"<tr><td><b>{html.escape(rv.title)}</b></td><td>{preds}{extra}{reasoning}</td></tr>"


def render_view_html(view: PostView, runs: Sequence[str] | None = None, selected: str | None = None,
                     image_uri: str | None = None) -> str:
    """One post as HTML: (image), id, text, gold keyphrases with flags, each run's predictions and reasoning.

    `runs` chooses and orders the runs shown (default all); `selected` goes
    first with its reasoning open; `image_uri` (e.g. `image_data_uri(view.image)`)
    inlines the image, None leaves it out (the widget shows it in an Image).
    """
    names = list(runs) if runs is not None else list(view.runs)
    if selected is not None:
        names = [selected] + [r for r in names if r != selected]
    rows = "".join(_run_row(view._run(r), r == selected) for r in names)
    img = f'<img src="{image_uri}" alt="{html.escape(view.id)}">' if image_uri else ""
    flags = [f for f, on in (("absent", view.absent), ("unseen", view.unseen)) if on]
    head = f"<b>{html.escape(view.id)}</b>" + (f' <span class="flag">{", ".join(flags)}</span>' if flags else "")
    return (f'<div class="post">{img}<div>{head}<div>{html.escape(view.text)}</div>'
            f"<div>gold: {_gold_html(view)}</div><table>{rows}</table></div></div>")


def static_gallery_html(views: Sequence[PostView], n: int = 8, runs: Sequence[str] | None = None,
                        title: str | None = None, max_side: int = 256):
    """An IPython HTML object showing `pick_views(views, n, runs)` with inlined images (works in static HTML)."""
    from IPython.display import HTML

    chosen = pick_views(views, n, runs)
    parts = [_CSS, '<div class="mmkp-x">']
    if title:
        parts.append(f"<h4>{html.escape(title)}</h4>")
    for v in chosen:
        uri = image_data_uri(v.image, max_side) if v.image else None
        parts.append(render_view_html(v, runs, image_uri=uri))
    parts.append("</div>")
    return HTML("".join(parts))


# ---------------------------------------------------------------- the widget

class Explorer:
    """The ipywidgets explorer (see `explorer`); displays as its widget box in a notebook."""

    def __init__(self, views: Sequence[PostView], runs: Sequence[str] | None = None, max_side: int = 256):
        import ipywidgets as w

        if not views:
            raise ValueError("no posts to explore: build_views returned nothing")
        self.views = list(views)
        self.run_names = list(runs) if runs is not None else list(self.views[0].runs)
        if not self.run_names:
            raise ValueError("no runs to explore: pass runs with predictions to build_views")
        self.max_side = max_side
        first = self.views[0]
        self.run = w.Dropdown(options=[(first._run(r).title, r) for r in self.run_names], description="run")
        self.filter = w.Dropdown(options=list(FILTERS), value="all", description="filter")
        self.post = w.IntSlider(min=0, max=0, value=0, description="post", continuous_update=False)
        self.count = w.HTML()
        self.image = w.Image(format="png", width=max_side)
        self.html = w.HTML()
        self.selection: list[PostView] = []
        for control in (self.run, self.filter):
            control.observe(self._refilter, names="value")
        self.post.observe(self._show, names="value")
        self.box = w.VBox([w.HBox([self.run, self.filter]), w.HBox([self.post, self.count]),
                           w.HBox([self.image, self.html])])
        self._refilter()

    def _refilter(self, _change=None) -> None:
        self.selection = filter_views(self.views, self.filter.value, self.run.value)
        self.post.max = max(len(self.selection) - 1, 0)
        self.post.disabled = len(self.selection) <= 1
        if self.post.value != 0:
            self.post.value = 0  # triggers _show
        else:
            self._show()

    def _show(self, _change=None) -> None:
        n = len(self.selection)
        if not n:
            self.count.value = "no post matches this filter"
            self.image.value = b""
            self.html.value = _CSS + '<div class="mmkp-x"><i>no post matches this filter</i></div>'
            return
        view = self.selection[self.post.value]
        self.count.value = f"{self.post.value + 1} of {n} posts"
        self.image.value = image_png_bytes(view.image, self.max_side) if view.image else b""
        self.html.value = (_CSS + '<div class="mmkp-x">'
                           + render_view_html(view, self.run_names, selected=self.run.value) + "</div>")

    def _repr_mimebundle_(self, **kwargs):
        return self.box._repr_mimebundle_(**kwargs)


def explorer(views: Sequence[PostView], runs: Sequence[str] | None = None, max_side: int = 256) -> Explorer:
    """The interactive explorer over `build_views` output; `runs` limits and orders the runs shown."""
    return Explorer(views, runs, max_side)
