"""``--source spatialdata``: a SpatialData store (``STORE.zarr``, the scverse format) → PhenoCell.

spatialdata-io writes CODEX, Xenium, MERSCOPE, Visium HD and more into this format. What is read::

    STORE.zarr/
      labels/<fov>     cell segmentation, (y, x) integers, 0 = background: one FoV per labels element the
                       table annotates (or only --labels-element)
      images/<name>    the H&E, (c=3, y, x) uint8, sharing a coordinate system with the labels element
      tables/<name>    AnnData annotating the labels: uns["spatialdata_attrs"] names the elements (region) and
                       the obs columns of each row's element (region_key) and label id (instance_key);
                       obs[--cell-type-column] (default "cell_type", the scverse name) each cell's type;
                       obs[--patient-column] (default "patients") its patient, unless --region-patients maps
                       FoVs (labels element names) to patients; X the marker intensities (var names)
      patients.csv     the patient table, as for a CODEX export (or --patients FILE)

A choice with one candidate is made; several are a typed error naming them and the option that picks one:
the table annotating labels (``--table``), a FoV's coordinate system shared by its labels and a 3-channel
image (``--coordinate-system``), its H&E among the 3-channel images there (``--image-element``).

Cell types (``--cell-type-names``): ``clusters`` go through the class merges (CODEX cluster names,
``--class-map``), ``classes`` are the 14 PhenoCell class names (``ignore`` = 255), case and spacing folded;
``auto`` reads ``classes`` when every value is one. A label without a row or a type is ignored (255).

Geometry comes from each element's transformation to the coordinate system (Identity, Scale, Translation,
Affine, Sequence). Coordinates are read as µm unless ``--mask-mpp`` (``--he-mpp``) gives the labels' (H&E's)
µm/px. Labels that map onto the H&E by a scale alone keep their grid (both cropped to their common extent;
tiles follow ``--pixel-grid`` as for CODEX); any other placement resamples them onto the H&E grid by nearest
neighbour at pixel centres. No minimum cell area unless ``--min-cell-area``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

import numpy as np

from phenocell.converters.base import PanopticFov
from phenocell.converters.fov_sources import FovSourceBase, check_patients, select_fovs
from phenocell.converters.options import PIXEL_GRIDS, FovOptions, PixelGrid
from phenocell.converters.outputs import kept_regions
from phenocell.converters.patients import mapped_fov_patients, patient_table_path, read_patients
from phenocell.errors import (
    CorruptInputError,
    InvalidInputError,
    InvalidOptionError,
    MissingInputError,
    check_choice,
    require_package,
)
from phenocell.panoptic.class_merges import ClassMap, load_class_map
from phenocell.panoptic.labelling import UNMATCHED, FovCells, scan_labels
from phenocell.paths import check_region_name
from phenocell.records import LazyImage, NormalisationLog, check_pixels
from phenocell.schema import CLASS_NAMES, IGNORE_INDEX, IGNORE_NAME

#: How the cell-type column is read: ``clusters`` (through the class map), ``classes`` (PhenoCell's names).
CellTypeNames = Literal["auto", "clusters", "classes"]
YX = ("y", "x")
#: PhenoCell's own class names read as themselves (``--cell-type-names classes``).
IDENTITY_MAP = ClassMap(
    ids={name: i for i, name in enumerate(CLASS_NAMES) if i > 0} | {IGNORE_NAME: IGNORE_INDEX},
    sources=("the 14 PhenoCell class names (identity)",),
)


@dataclass
class SpatialDataOptions(FovOptions):
    """Options of a SpatialData store (``--source spatialdata``)."""

    cell_type_key: str = "cell_type"
    cell_type_names: CellTypeNames = "auto"
    table: str | None = None
    labels_element: str | None = None
    image_element: str | None = None
    coordinate_system: str | None = None
    pixel_grid: PixelGrid = "mask"
    markers: bool = True
    default_min_area_um2 = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("cell_type_names", self.cell_type_names, get_args(CellTypeNames))
        check_choice("pixel_grid", self.pixel_grid, PIXEL_GRIDS)


def _spatialdata() -> Any:
    require_package("spatialdata", "spatialdata", "reading a SpatialData store (--source spatialdata)")
    import spatialdata

    return spatialdata


def is_store(path: Path) -> bool:
    """Whether ``path`` is a folder whose zarr root carries spatialdata's attributes (v3, or a v2 layout)."""
    root = Path(path)
    if (root / "zarr.json").is_file():
        try:
            attrs = json.loads((root / "zarr.json").read_text(encoding="utf-8")).get("attributes", {})
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            return False
        return isinstance(attrs, dict) and "spatialdata_attrs" in attrs
    return (root / ".zgroup").is_file() and any((root / d).is_dir() for d in ("images", "labels", "tables"))


def read_store(path: Path, selection: tuple[str, ...] | None = None) -> Any:
    """The store opened lazily (images and labels stay on disk), or a typed error."""
    sd = _spatialdata()
    if not Path(path).is_dir():
        raise MissingInputError(
            f"no SpatialData store at {path}",
            expected="a STORE.zarr folder written by spatialdata (sdata.write)",
            found="no such folder",
            fix="pass the path of the .zarr store",
        )
    chatter = logging.getLogger("ome_zarr.reader")  # warns "no parent found" for every labels element
    level = chatter.level
    chatter.setLevel(logging.ERROR)
    try:
        return sd.read_zarr(Path(path), selection=selection)
    except Exception as err:
        raise CorruptInputError(
            f"cannot read SpatialData store {path}",
            expected=f"a store that spatialdata {sd.__version__} reads",
            found=f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}",
            fix="re-write the store with spatialdata (sdata.write), or check it is not truncated",
        ) from err
    finally:
        chatter.setLevel(level)


@dataclass(frozen=True)
class TableKeys:
    """A table annotating labels: its name, the labels elements, the region and instance id columns."""

    name: str
    labels: tuple[str, ...]
    region_key: str
    instance_key: str


def _annotations(sdata: Any) -> dict[str, TableKeys]:
    """Every table that annotates at least one labels element of the store."""
    out = {}
    for name, table in sdata.tables.items():
        attrs = table.uns.get("spatialdata_attrs") or {}
        region = attrs.get("region")
        regions = [region] if isinstance(region, str) else list(region if region is not None else [])
        labels = tuple(sorted(r for r in regions if r in sdata.labels))
        if labels and attrs.get("region_key") and attrs.get("instance_key"):
            out[name] = TableKeys(name, labels, str(attrs["region_key"]), str(attrs["instance_key"]))
    return out


def pick_table(sdata: Any, store: Path, name: str | None) -> TableKeys:
    """The table annotating the labels (``--table`` when several do); no such table is a typed error."""
    found = _annotations(sdata)
    tables, labels = sorted(sdata.tables), sorted(sdata.labels)
    fix = "add one: TableModel.parse(adata, region=<labels>, region_key=..., instance_key=...), then write it"
    if name is not None and name not in tables:
        raise InvalidOptionError(
            f"no table {name!r} in {store}", expected=f"one of {tables}", found=name, fix=fix
        )
    if name is not None and name not in found:
        found = {}
    if not found:
        raise InvalidInputError(
            f"SpatialData store {store} has no table annotating a labels element",
            expected="a table (tables/<name>) whose uns['spatialdata_attrs'] has region (a labels element), "
            "region_key and instance_key",
            found=f"tables {tables or 'none'}; labels elements {labels or 'none'}",
            fix=fix,
        )
    if name is None and len(found) > 1:
        raise InvalidInputError(
            f"several tables of {store} annotate labels elements",
            expected="one table, or --table NAME",
            found=", ".join(f"{t} (labels {list(k.labels)})" for t, k in sorted(found.items())),
            fix="pass --table with one of them",
        )
    return found[name] if name is not None else next(iter(found.values()))


def _obs_column(table: Any, keys: TableKeys, column: str, what: str, option: str) -> Any:
    """``table.obs[column]``; a missing column is a typed error listing the table's columns."""
    if column not in table.obs.columns:
        raise InvalidInputError(
            f"table {keys.name!r} has no {what} column {column!r}",
            expected=f"obs column {column!r}",
            found=f"obs columns {list(map(str, table.obs.columns))}",
            fix=f"pass {option} with the column that holds the {what}",
        )
    return table.obs[column]


def cell_type_map(values: Any, options: SpatialDataOptions) -> ClassMap:
    """The class map the cell types go through: the class merges, or PhenoCell's names (identity)."""
    mode = options.cell_type_names
    if mode == "auto":
        known = {" ".join(n.lower().split()) for n in IDENTITY_MAP.ids}
        names = {" ".join(str(v).lower().split()) for v in values}
        mode = "classes" if names <= known else "clusters"
    return IDENTITY_MAP if mode == "classes" else load_class_map(options.class_map)


@dataclass(frozen=True)
class Placement:
    """Where a FoV's labels and H&E lie: elements, coordinate system, pixel → coordinates matrices (y, x)."""

    labels: str
    image: str
    system: str
    labels_matrix: np.ndarray
    image_matrix: np.ndarray


def _level0(element: Any) -> Any:
    """The full-resolution DataArray of a (possibly multiscale) raster element."""
    if hasattr(element, "children"):  # a multiscale DataTree: scale0 is full resolution
        return _spatialdata().get_pyramid_levels(element, n=0)
    return element


def _is_rgb(element: Any) -> bool:
    array = _level0(element)
    return "c" in array.dims and int(array.sizes["c"]) == 3


def _systems(element: Any) -> list[str]:
    from spatialdata.transformations import get_transformation

    return sorted(get_transformation(element, get_all=True))


def _matrix(element: Any, system: str) -> np.ndarray:
    from spatialdata.transformations import get_transformation

    transform = get_transformation(element, to_coordinate_system=system)
    return np.asarray(transform.to_affine_matrix(input_axes=YX, output_axes=YX), dtype=np.float64)


def _candidates(sdata: Any, fov: str, options: SpatialDataOptions) -> list[tuple[str, str]]:
    """(coordinate system, image) pairs the FoV's labels could be read with."""
    systems = _systems(sdata.labels[fov])
    if options.coordinate_system is not None:
        if options.coordinate_system not in systems:
            raise InvalidOptionError(
                f"labels element {fov!r} is not in coordinate system {options.coordinate_system!r}",
                expected=f"one of its coordinate systems {systems}",
                found=repr(options.coordinate_system),
                fix="pass --coordinate-system with one of those",
            )
        systems = [options.coordinate_system]
    images = dict(sdata.images)
    if options.image_element is not None:
        if options.image_element not in images or not _is_rgb(images[options.image_element]):
            shapes = {n: dict(_level0(e).sizes) for n, e in images.items()}
            raise InvalidOptionError(
                f"no 3-channel image element {options.image_element!r}",
                expected="an H&E image element (c=3, y, x)",
                found=f"image elements {shapes}",
                fix="pass --image-element with the H&E's name",
            )
        images = {options.image_element: images[options.image_element]}
    rgb = {n: _systems(e) for n, e in images.items() if _is_rgb(e)}
    return [(s, n) for s in systems for n, in_systems in sorted(rgb.items()) if s in in_systems]


def place(sdata: Any, fov: str, options: SpatialDataOptions) -> Placement:
    """The FoV's H&E and coordinate system, and both elements' transformations to it."""
    pairs = _candidates(sdata, fov, options)
    where = {n: _systems(e) for n, e in sdata.images.items()}
    if not pairs:
        raise InvalidInputError(
            f"labels element {fov!r} shares no coordinate system with a 3-channel (H&E) image",
            expected=f"an image (c=3, y, x) in one of {_systems(sdata.labels[fov])}",
            found=f"image elements and their coordinate systems {where or 'none'}",
            fix="add the H&E with Image2DModel.parse(..., transformations={<system>: ...}), or pick one with "
            "--image-element / --coordinate-system",
        )
    for index, option, what in (
        (0, "--coordinate-system", "coordinate systems"),
        (1, "--image-element", "H&E"),
    ):
        choices = sorted({p[index] for p in pairs})
        if len(choices) > 1:
            raise InvalidInputError(
                f"labels element {fov!r}: several {what} to read it with",
                expected=f"one, or {option} NAME",
                found=", ".join(choices),
                fix=f"pass {option} with one of them",
            )
    system, image = pairs[0]
    return Placement(
        fov, image, system, _matrix(sdata.labels[fov], system), _matrix(sdata.images[image], system)
    )


def pixel_size(matrix: np.ndarray, what: str) -> float:
    """Side of one pixel in coordinate units; non-square pixels (or a singular map) are a typed error."""
    linear = matrix[:2, :2]
    area = abs(float(np.linalg.det(linear)))
    if area == 0 or not np.allclose(linear @ linear.T, area * np.eye(2), rtol=1e-6, atol=1e-9 * area):
        raise InvalidInputError(
            f"{what} does not have square pixels in its coordinate system",
            expected="a transformation scaling y and x alike (rotation allowed)",
            found=f"linear part {linear.tolist()}",
            fix="resample the element to square pixels, or fix its transformation",
        )
    return float(np.sqrt(area))


def _unit_um(options: SpatialDataOptions, labels_px: float, image_px: float) -> float:
    """µm per coordinate unit: from ``--mask-mpp``, else ``--he-mpp``, else 1 (coordinates in µm)."""
    units = [mpp / px for mpp, px in ((options.mask_mpp, labels_px), (options.he_mpp, image_px)) if mpp]
    if len(units) == 2 and not np.isclose(units[0], units[1], rtol=1e-3):
        raise InvalidOptionError(
            "--mask-mpp and --he-mpp disagree with the store's transformations",
            expected=f"an H&E pixel {labels_px / image_px:.6g} times finer than a labels pixel",
            found=f"--mask-mpp {options.mask_mpp}, --he-mpp {options.he_mpp}",
            fix="pass only one of them: the other follows from the transformations",
        )
    return units[0] if units else 1.0


@dataclass(frozen=True)
class DaskPixels:
    """A dask array read as :class:`LazyImage` reads a zarr one: numpy windows, one chunk size per axis."""

    data: Any

    @property
    def shape(self) -> tuple[int, ...]:
        """The array's shape."""
        return tuple(int(n) for n in self.data.shape)

    @property
    def dtype(self) -> np.dtype:
        """The array's dtype."""
        return np.dtype(self.data.dtype)

    @property
    def chunks(self) -> tuple[int, ...]:
        """The first chunk's size along each axis (zarr's form; dask lists every chunk)."""
        return tuple(int(sizes[0]) for sizes in self.data.chunks)

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(self.data[key])


def _raster(element: Any, path: Path, dims: tuple[str, ...], kinds: str, max_pixels: int) -> Any:
    """The element's full-resolution pixels, lazy (dask), in ``dims`` order; size and dtype checked."""
    array = _level0(element)
    if set(array.dims) != set(dims):
        raise InvalidInputError(
            f"element {path} has axes {tuple(array.dims)}",
            expected=f"axes {dims}",
            found=str(tuple(array.dims)),
            fix="store a 2-D element (no z axis)",
        )
    array = array.transpose(*dims)
    check_pixels(path, "element", tuple(int(n) for n in array.shape), max_pixels)
    if array.dtype.kind not in kinds or ("c" in dims and array.dtype != np.uint8):
        raise InvalidInputError(
            f"element {path} has pixels of dtype {array.dtype}",
            expected="uint8 RGB for the H&E" if "c" in dims else "integer labels (0 = background)",
            found=str(array.dtype),
            fix="re-write the element with that dtype",
        )
    return array.data


def _common(labels: int, image: int, ratio: float) -> tuple[int, int]:
    """Pixels of labels and H&E (``ratio`` H&E px per labels px) along one axis over their common extent."""
    kept = min(labels, int(np.floor(image / ratio + 1e-6)))
    return kept, min(image, round(kept * ratio))


def _resample(labels: Any, image_shape: tuple[int, ...], to_image: np.ndarray) -> tuple[np.ndarray, tuple]:
    """The labels on the H&E pixels they cover (nearest neighbour at pixel centres) and that window."""
    height, width = labels.shape
    corners = to_image @ np.array([[0, 0, height, height], [0, width, 0, width], [1, 1, 1, 1]])
    top, left = np.maximum(np.floor(corners[:2].min(axis=1)), 0).astype(int)
    bottom, right = np.minimum(np.ceil(corners[:2].max(axis=1)), image_shape[:2]).astype(int)
    if bottom <= top or right <= left:
        return np.zeros((0, 0), dtype=labels.dtype), (slice(0, 0), slice(0, 0))
    yy, xx = np.meshgrid(np.arange(top, bottom) + 0.5, np.arange(left, right) + 0.5, indexing="ij")
    back = np.linalg.inv(to_image)
    ly = np.floor(back[0, 0] * yy + back[0, 1] * xx + back[0, 2]).astype(np.int64)
    lx = np.floor(back[1, 0] * yy + back[1, 1] * xx + back[1, 2]).astype(np.int64)
    inside = (ly >= 0) & (ly < height) & (lx >= 0) & (lx < width)
    source = np.asarray(labels)
    out = np.zeros(yy.shape, dtype=source.dtype)
    out[inside] = source[ly[inside], lx[inside]]
    return out, (slice(top, bottom), slice(left, right))


def align(
    sdata: Any, store: Path, placement: Placement, options: SpatialDataOptions
) -> tuple[LazyImage, LazyImage]:
    """The FoV's H&E and labels (``(he, mask)``) over their common extent, with their µm/px.

    A pure scale between the two (same origin, no rotation) keeps both grids; any other placement resamples
    the labels onto the H&E grid (nearest neighbour), so both then share the H&E's pixels.
    """
    label_path, image_path = store / "labels" / placement.labels, store / "images" / placement.image
    labels = _raster(sdata.labels[placement.labels], label_path, YX, "ui", options.max_pixels)
    image = _raster(sdata.images[placement.image], image_path, (*YX, "c"), "u", options.max_pixels)
    labels_px = pixel_size(placement.labels_matrix, f"labels element {placement.labels!r}")
    image_px = pixel_size(placement.image_matrix, f"image element {placement.image!r}")
    unit = _unit_um(options, labels_px, image_px)
    to_image = np.linalg.inv(placement.image_matrix) @ placement.labels_matrix  # labels px → H&E px
    ratio = labels_px / image_px
    if np.allclose(to_image, np.diag([ratio, ratio, 1.0]), atol=1e-6 * max(ratio, 1.0)):
        (rows, he_rows), (cols, he_cols) = (
            _common(n, m, ratio) for n, m in zip(labels.shape, image.shape[:2], strict=True)
        )
        mask = LazyImage(label_path, DaskPixels(labels[:rows, :cols]), labels_px * unit)
        he = LazyImage(image_path, DaskPixels(image[:he_rows, :he_cols]), image_px * unit)
    else:
        resampled, window = _resample(labels, image.shape, to_image)
        mask = LazyImage(label_path, resampled, image_px * unit)
        he = LazyImage(image_path, DaskPixels(image[window]), image_px * unit)
    if 0 in mask.shape or 0 in he.shape:
        raise InvalidInputError(
            f"labels {placement.labels!r} and H&E {placement.image!r} do not overlap",
            expected=f"both covering one area of coordinate system {placement.system!r}",
            found=f"labels {labels.shape}, H&E {image.shape[:2]}, labels → H&E pixels {to_image.tolist()}",
            fix="check the elements' transformations",
        )
    return he, mask


@dataclass
class FovRows:
    """One FoV's table rows: label ids, cell-type names (``unmatched`` where missing), class ids, markers."""

    ids: np.ndarray
    names: np.ndarray
    classes: np.ndarray
    markers: Any  # (rows, markers): numpy or scipy.sparse


def _ids(table: Any, keys: TableKeys) -> np.ndarray:
    values = _obs_column(table, keys, keys.instance_key, "instance id", "--table").to_numpy()
    if values.dtype.kind not in "ui" and not (
        values.dtype.kind == "f" and np.all(values == np.round(values))
    ):
        raise InvalidInputError(
            f"table {keys.name!r}: instance ids {keys.instance_key!r} are not integers",
            expected="the label id of each row's cell in its labels element",
            found=f"dtype {values.dtype}",
            fix="store the labels' ids in the instance_key column",
        )
    return values.astype(np.int64)


def table_rows(table: Any, keys: TableKeys, fovs: list[str], options: SpatialDataOptions) -> tuple:
    """Each FoV's rows, and the class map their cell types went through (``(rows, class_map)``)."""
    regions = _obs_column(table, keys, keys.region_key, "region", "--table").astype(str).to_numpy()
    types = _obs_column(table, keys, options.cell_type_key, "cell-type", "--cell-type-column")
    ids, named = _ids(table, keys), types.notna().to_numpy()
    names = np.where(named, types.astype(str).to_numpy(dtype=object), UNMATCHED)
    class_map = cell_type_map(np.unique(names[named]), options)
    where = f" (table {keys.name!r}, column {options.cell_type_key!r})"
    lookup = {
        n: class_map.class_id(class_map.canonical(n, context=where), context=where) for n in set(names[named])
    }
    classes = np.array([lookup.get(n, IGNORE_INDEX) for n in names], dtype=np.uint8)
    markers = table.X if options.markers and table.n_vars else np.zeros((len(ids), 0), dtype=np.float32)
    out = {}
    for fov in fovs:
        at = np.flatnonzero(regions == fov)
        repeated = np.unique(ids[at])[np.unique(ids[at], return_counts=True)[1] > 1]
        if repeated.size:
            raise InvalidInputError(
                f"table {keys.name!r}: several rows claim one label of {fov!r}",
                expected=f"one row per label in column {keys.instance_key!r}",
                found=f"labels {repeated[:5].tolist()} repeated",
                fix="keep one row per cell",
            )
        out[fov] = FovRows(ids[at], names[at], classes[at], markers[at])
    return out, class_map


def label_fov(mask: LazyImage, rows: FovRows, *, fov_index: int, min_area_px: float) -> FovCells:
    """Join the FoV's rows to its labels by id (labels without a row, or without a type, get 255)."""
    stats = scan_labels(mask)
    n = len(stats.labels)
    pos = np.minimum(np.searchsorted(stats.labels, rows.ids), max(n - 1, 0))
    found = (stats.labels[pos] == rows.ids) if n else np.zeros(len(rows.ids), dtype=bool)
    names = np.full(n, UNMATCHED, dtype=object)
    classes = np.full(n, IGNORE_INDEX, dtype=np.uint8)
    markers = np.full((n, rows.markers.shape[1]), np.nan, dtype=np.float32)
    names[pos[found]], classes[pos[found]] = rows.names[found], rows.classes[found]
    picked = rows.markers[np.flatnonzero(found)]
    markers[pos[found]] = picked.toarray() if hasattr(picked, "toarray") else np.asarray(picked)
    small = stats.area < min_area_px
    qc: dict[str, float] = {
        "table_rows": len(rows.ids),
        "rows_without_mask_label": int((~found).sum()),
        "rows_sharing_a_label": 0,
        "labels": n,
        "unmatched_labels": int((names == UNMATCHED).sum()),
        "dirt_or_ignored": int(((classes == IGNORE_INDEX) & (names != UNMATCHED)).sum()),
        "below_min_area": int((small & (classes != IGNORE_INDEX)).sum()),
    }
    classes[small] = IGNORE_INDEX
    cell_ids = (np.int64(fov_index) << np.int64(32)) | stats.labels.astype(np.int64)
    return FovCells(stats.labels, cell_ids, classes, names, stats.area, stats.cy, stats.cx, markers, qc)


def _fovs(keys: TableKeys, options: SpatialDataOptions) -> list[str]:
    """The labels elements converted: those the table annotates, or only ``--labels-element``."""
    if options.labels_element is not None and options.labels_element not in keys.labels:
        raise InvalidOptionError(
            f"table {keys.name!r} does not annotate labels element {options.labels_element!r}",
            expected=f"one of {list(keys.labels)}",
            found=repr(options.labels_element),
            fix="pass --labels-element with one of those",
        )
    fovs = [options.labels_element] if options.labels_element is not None else list(keys.labels)
    for fov in fovs:
        check_region_name(fov)
    return fovs


def fov_patients(table: Any, keys: TableKeys, fovs: list[str], options: SpatialDataOptions, log: Any) -> dict:
    """FoV → patient: ``--region-patients FILE``, else the table's patient column (one patient per FoV)."""
    if options.region_patients:
        return mapped_fov_patients(Path(options.region_patients), options, fovs, log)
    column = options.columns.patient or "patients"
    patients = _obs_column(table, keys, column, "patient", "--patient-column (or --region-patients FILE)")
    regions = table.obs[keys.region_key].astype(str).to_numpy()
    pairs = {(r, str(p)) for r, p in zip(regions, patients.to_numpy(), strict=True) if r in fovs}
    per_fov: dict[str, list[str]] = {f: sorted(p for r, p in pairs if r == f) for f in fovs}
    bad = {f: p for f, p in per_fov.items() if len(p) != 1}
    if bad:
        raise InvalidInputError(
            f"table {keys.name!r}: FoVs without exactly one patient in column {column!r}",
            expected="one patient per labels element (and at least one row)",
            found=", ".join(f"{f}: {p or 'no rows'}" for f, p in list(bad.items())[:5]),
            fix="fix the patient column, map FoVs with --region-patients FILE, or leave them out (--exclude)",
        )
    return {f: p[0] for f, p in per_fov.items()}


@dataclass
class SpatialDataSource(FovSourceBase):
    """A SpatialData store opened: its table's rows per FoV, patients, and where each FoV's elements lie."""

    name: ClassVar[str] = "spatialdata"
    options_type: ClassVar[type] = SpatialDataOptions

    #: The flags of the options only this source reads, ``(field, flag, help)``: the CLI adds them.
    cli_flags: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("cell_type_key", "--cell-type-column", "SpatialData: the table's cell-type column (obs)."),
        (
            "cell_type_names",
            "--cell-type-names",
            "SpatialData: clusters (CODEX names, through the class merges), classes (the 14 class names), "
            "or auto (classes when every value is one).",
        ),
        ("table", "--table", "SpatialData: the table annotating the labels, when several do."),
        ("labels_element", "--labels-element", "SpatialData: convert only this labels element (FoV)."),
        ("image_element", "--image-element", "SpatialData: the H&E image element, when several fit."),
        ("coordinate_system", "--coordinate-system", "SpatialData: the coordinate system, when several fit."),
        ("markers", "--markers/--no-markers", "SpatialData: keep the table's X as marker intensities."),
    )

    options: SpatialDataOptions
    placements: dict[str, Placement]
    rows: dict[str, FovRows]

    @classmethod
    def recognise(cls, path: Path) -> bool:
        """A zarr folder whose root carries spatialdata's attributes."""
        return is_store(path)

    @classmethod
    def open(cls, path: Path, options: SpatialDataOptions) -> SpatialDataSource:
        """Read the table, patients and transformations; check every choice of element before converting."""
        raw = Path(path)
        sdata = read_store(raw)
        keys = pick_table(sdata, raw, options.table)
        table = sdata.tables[keys.name]
        fovs = _fovs(keys, options)
        excluded, authors = select_fovs(options, fovs)
        kept = kept_regions(fovs, excluded, unit="FoVs")
        rows, class_map = table_rows(table, keys, kept, options)
        log = NormalisationLog()
        fov_patient = fov_patients(table, keys, kept, options, log)
        patients = read_patients(raw, options, log)
        check_patients(fov_patient, patients, patient_table_path(raw, options))
        return cls(
            raw=raw,
            options=options,
            patients=patients,
            class_map=class_map,
            fov_patient=fov_patient,
            excluded=excluded,
            fov_index={f: i for i, f in enumerate(keys.labels, start=1)},
            markers=[str(v) for v in table.var_names] if options.markers else [],
            authors=authors,
            normalised=log,
            placements={f: place(sdata, f, options) for f in kept},
            rows=rows,
        )

    def for_unit(self, unit: str) -> SpatialDataSource:
        """Only this FoV's rows, placement and patient."""
        placements, rows = {unit: self.placements[unit]}, {unit: self.rows[unit]}
        return replace(self, placements=placements, rows=rows, fov_patient={unit: self.fov_patient[unit]})

    def pixel_grid(self) -> str:
        """``--pixel-grid``."""
        return self.options.pixel_grid

    def open_fov(self, unit: str) -> PanopticFov:
        """The FoV's H&E and labels over their common extent, and its cells labelled from the table."""
        sdata = read_store(self.raw, selection=("images", "labels"))
        he, mask = align(sdata, self.raw, self.placements[unit], self.options)
        min_area_px = self.options.min_area_um2 / mask.mpp**2
        cells = label_fov(mask, self.rows[unit], fov_index=self.fov_index[unit], min_area_px=min_area_px)
        return PanopticFov(he, mask, cells, {"contested_pixels": 0, "repaired_polygons": 0})


SOURCE = SpatialDataSource
