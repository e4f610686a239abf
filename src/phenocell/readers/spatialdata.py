"""A SpatialData store (``STORE.zarr``, the scverse format): its table, elements and their geometry.

Read: ``tables/<name>``, an AnnData whose ``uns["spatialdata_attrs"]`` names the labels elements it annotates
(region) and the obs columns of each row's element (region_key) and label id (instance_key);
``labels/<fov>``, (y, x) integers, 0 = background; ``images/<name>``, the H&E, (c=3, y, x) uint8, sharing a
coordinate system with the labels. A choice with one candidate is made; several are a typed error naming
them and the option that picks one (``--table``, ``--coordinate-system``, ``--image-element``).

Pixel sizes come from each element's transformation to the coordinate system (Identity, Scale, Translation,
Affine, Sequence), in µm unless ``mask_mpp`` (``he_mpp``) gives the labels' (H&E's) µm/px. Labels that map
onto the H&E by a scale alone keep their grid (both cropped to their common extent); any other placement
resamples them onto the H&E grid by nearest neighbour at pixel centres.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from phenocell.errors import (
    CorruptInputError,
    InvalidInputError,
    InvalidOptionError,
    MissingInputError,
    require_package,
)
from phenocell.paths import check_region_name
from phenocell.records import LazyImage, check_pixels

YX = ("y", "x")


def _spatialdata() -> Any:
    require_package("spatialdata", "spatialdata", "reading a SpatialData store (--source spatialdata)")
    import spatialdata

    return spatialdata


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


def obs_column(table: Any, keys: TableKeys, column: str, what: str, option: str) -> Any:
    """``table.obs[column]``; a missing column is a typed error listing the table's columns."""
    if column not in table.obs.columns:
        raise InvalidInputError(
            f"table {keys.name!r} has no {what} column {column!r}",
            expected=f"obs column {column!r}",
            found=f"obs columns {list(map(str, table.obs.columns))}",
            fix=f"pass {option} with the column that holds the {what}",
        )
    return table.obs[column]


def labels_elements(keys: TableKeys, only: str | None) -> list[str]:
    """The labels elements (FoVs) read: those the table annotates, or only ``only`` (``--labels-element``)."""
    if only is not None and only not in keys.labels:
        raise InvalidOptionError(
            f"table {keys.name!r} does not annotate labels element {only!r}",
            expected=f"one of {list(keys.labels)}",
            found=repr(only),
            fix="pass --labels-element with one of those",
        )
    fovs = [only] if only is not None else list(keys.labels)
    for fov in fovs:
        check_region_name(fov)
    return fovs


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
    return sorted(_spatialdata().transformations.get_transformation(element, get_all=True))


def _matrix(element: Any, system: str) -> np.ndarray:
    transform = _spatialdata().transformations.get_transformation(element, to_coordinate_system=system)
    return np.asarray(transform.to_affine_matrix(input_axes=YX, output_axes=YX), dtype=np.float64)


def _candidates(sdata: Any, fov: str, system: str | None, image: str | None) -> list[tuple[str, str]]:
    """(coordinate system, image) pairs the FoV's labels could be read with (``system``, ``image``: only)."""
    systems = _systems(sdata.labels[fov])
    if system is not None:
        if system not in systems:
            raise InvalidOptionError(
                f"labels element {fov!r} is not in coordinate system {system!r}",
                expected=f"one of its coordinate systems {systems}",
                found=repr(system),
                fix="pass --coordinate-system with one of those",
            )
        systems = [system]
    images = dict(sdata.images)
    if image is not None:
        if image not in images or not _is_rgb(images[image]):
            shapes = {n: dict(_level0(e).sizes) for n, e in images.items()}
            raise InvalidOptionError(
                f"no 3-channel image element {image!r}",
                expected="an H&E image element (c=3, y, x)",
                found=f"image elements {shapes}",
                fix="pass --image-element with the H&E's name",
            )
        images = {image: images[image]}
    rgb = {n: _systems(e) for n, e in images.items() if _is_rgb(e)}
    return [(s, n) for s in systems for n, in_systems in sorted(rgb.items()) if s in in_systems]


def place(sdata: Any, fov: str, *, system: str | None = None, image: str | None = None) -> Placement:
    """The FoV's H&E and coordinate system (or ``system``, ``image``), and both transformations to it."""
    pairs = _candidates(sdata, fov, system, image)
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


def _unit_um(mask_mpp: float | None, he_mpp: float | None, labels_px: float, image_px: float) -> float:
    """µm per coordinate unit: from ``--mask-mpp``, else ``--he-mpp``, else 1 (coordinates in µm)."""
    units = [mpp / px for mpp, px in ((mask_mpp, labels_px), (he_mpp, image_px)) if mpp]
    if len(units) == 2 and not np.isclose(units[0], units[1], rtol=1e-3):
        raise InvalidOptionError(
            "--mask-mpp and --he-mpp disagree with the store's transformations",
            expected=f"an H&E pixel {labels_px / image_px:.6g} times finer than a labels pixel",
            found=f"--mask-mpp {mask_mpp}, --he-mpp {he_mpp}",
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
    sdata: Any,
    store: Path,
    placement: Placement,
    *,
    mask_mpp: float | None = None,
    he_mpp: float | None = None,
    max_pixels: int,
) -> tuple[LazyImage, LazyImage]:
    """The FoV's H&E and labels (``(he, mask)``) over their common extent, with their µm/px.

    A pure scale between the two (same origin, no rotation) keeps both grids; any other placement resamples
    the labels onto the H&E grid (nearest neighbour), so both then share the H&E's pixels.
    """
    label_path, image_path = store / "labels" / placement.labels, store / "images" / placement.image
    labels = _raster(sdata.labels[placement.labels], label_path, YX, "ui", max_pixels)
    image = _raster(sdata.images[placement.image], image_path, (*YX, "c"), "u", max_pixels)
    labels_px = pixel_size(placement.labels_matrix, f"labels element {placement.labels!r}")
    image_px = pixel_size(placement.image_matrix, f"image element {placement.image!r}")
    unit = _unit_um(mask_mpp, he_mpp, labels_px, image_px)
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
