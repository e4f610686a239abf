"""File patterns and column names of the raw CODEX export, in one place.

Default raw layout (modelled on the public Schürch et al. 2020 CRC CODEX release)::

    RAW_DIR/
      CRC_clusters_neighborhoods_markers.csv   one row per cell (CELL_TABLE_COLUMNS below)
      patients.csv                             one row per patient (PATIENT_COLUMNS below)
      masks/<region>.tif                       label image per region: uint16/uint32, 0 = background,
                                               pixel size in the TIFF resolution tags (µm/px)
      he/<region>.tif                          registered RGB H&E per region, pixel size in its tags;
                                               it may be finer than the mask (e.g. 2:1)
      polygons/<region>.geojson                optional: cell outlines instead of a label image

``<region>`` is the value of the cell table's ``File Name`` column, e.g. ``reg001_A``.
"""

from __future__ import annotations

from dataclasses import dataclass

CELL_TABLE_FILE = "CRC_clusters_neighborhoods_markers.csv"
PATIENT_TABLE_FILE = "patients.csv"
MASK_DIR = "masks"
HE_DIR = "he"
POLYGON_DIR = "polygons"
IMAGE_SUFFIXES = (".tif", ".tiff")
POLYGON_SUFFIXES = (".geojson", ".json")

#: The authors' per-FoV HDF5 export (``--source phenobench-hdf5``): ``RAW/<region>.hdf`` files, the
#: FoV → patient table (``FOV_PATIENT_FILE``, else the cell table's region and patient columns), the
#: patient table, and optionally the ``ifl`` channel names, one per line.
HDF5_SUFFIXES = (".hdf", ".h5", ".hdf5")
FOV_PATIENT_FILE = "fov_patients.csv"
CHANNEL_NAMES_FILE = "channel_names.txt"

#: File-name facts of the released datasets and the authors' LMDB release, read by their readers and by
#: ``--source auto`` (:mod:`phenocell.converters.recognisers`, which imports no reader).
LIZARD_LABEL_DIR = "Lizard_Labels"
PANNUKE_FOLD_PATTERN = r"^fold\s*(\d+)$"  # fold folders: ``fold1`` or ``Fold 1`` (case-insensitive)
ARCTIQUE_SUBSETS = ("train", "test")
LMDB_SUBDIR = "lmdb"
LMDB_LABEL_DICT_FILE = "label_dict.json"

#: Pixel size of the public release's centroids and masks.
DEFAULT_MASK_MPP = 0.377442

#: Largest mask label: global cell ids pack the FoV index above 32 bits of label.
MAX_LABEL = 2**32 - 1

#: Default limit on one image's pixels (H x W, ``--max-pixels``), far above real FoVs (1440 x 1920 masks,
#: H&E at 2x: 2880 x 3840 = 11 MP); a header claiming more is refused before any pixel is read.
DEFAULT_MAX_PIXELS = 250_000_000

#: Marker-intensity columns look like ``CD68 - macrophages:Cyc_18_ch_4``.
MARKER_COLUMN_PATTERN = r":Cyc_\d+_ch_\d+$"


@dataclass(frozen=True)
class CellTableColumns:
    """Column names of the per-cell table; defaults are those of the public release.

    ``label`` is the cell's label id in its region's mask; set it to ``None`` to join cells to the mask
    by centroid lookup instead. ``patient`` is ``None`` when a region → patient mapping file replaces it.
    """

    region: str = "File Name"
    label: str | None = "Index in File"
    cluster: str = "ClusterName"
    patient: str | None = "patients"
    group: str = "groups"
    x: str = "X:X"
    y: str = "Y:Y"
    size: str = "size:size"
    cell_id: str = "CellID"

    def required(self) -> list[str]:
        """Columns that must be present in the table."""
        cols = [self.region, self.cluster, *([self.patient] if self.patient else []), self.x, self.y]
        return cols + ([self.label] if self.label else [])


@dataclass(frozen=True)
class PatientColumns:
    """Column names of the patient table (CSV or spreadsheet).

    Defaults match our own ``patients.csv``; for the release's spreadsheets (Table S1 of the Cell paper,
    the TCIA ``CRC_TMAs_patient_annotations.xlsx``) point ``stage`` at ``p_TNM`` (the UICC stage group,
    never ``pT``), ``tumor_type`` at the histology column and ``msi`` at ``MSI_PCR`` / ``MSI_IHC``.
    ``msi`` is optional: a table without that column has no MSI status.
    """

    patient: str = "patients"
    tumor_type: str = "tumor_type"
    stage: str = "stage"
    group: str = "groups"
    msi: str | None = "msi"


@dataclass(frozen=True)
class RegionPatientColumns:
    """Column names of the region → patient mapping file (for cell tables without a patient column)."""

    region: str = "File Name"
    patient: str = "patients"


TUMOR_TYPES = ("adenocarcinoma", "mucinous")
#: UICC stage groups (1..4 = I..IV); Tumor-Stage uses 3 (train/validation) and 4 (test), the others
#: take part in Base and the other families only.
STAGES = (1, 2, 3, 4)
#: Suffixes read as spreadsheets (pandas + openpyxl); anything else is read as CSV.
SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm")
