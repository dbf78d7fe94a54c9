# Writes DICOM test series with pydicom (a writer this project did not write) from an MSD NIfTI
# case: an oblique, anisotropic geometry with rescale slope / intercept, as single-frame slices
# or one enhanced multi-frame image, and the hostile variants a reader must refuse.
# Usage: make_series.py <image.nii.gz> <out_dir> <variant> [<second_image.nii.gz>]
# Prints a JSON line with the geometry written, so the test can check what it reads.
import json
import os
import sys

import nibabel as nib
import numpy as np
import pydicom
from pydicom.encaps import encapsulate
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ExplicitVRLittleEndian,
                         ImplicitVRLittleEndian, JPEGBaseline8Bit, generate_uid)

MR = '1.2.840.10008.5.1.4.1.1.4'
ENHANCED_MR = '1.2.840.10008.5.1.4.1.1.4.1'
SLOPE, INTER = 0.5, -100.0
# Row (along a row, i.e. increasing column) and column cosines: a rotation of ~20 degrees about
# z and ~10 about x, so no axis is aligned with the scanner's.
a, b = np.radians(20), np.radians(10)
ROW = np.array([np.cos(a), np.sin(a), 0.0])
COL = np.array([-np.sin(a) * np.cos(b), np.cos(a) * np.cos(b), np.sin(b)])
NORMAL = np.cross(ROW, COL)
COL_SPACING, ROW_SPACING, SLICE_SPACING = 0.8, 1.1, 1.3  # between columns, rows, slices (mm)
ORIGIN = np.array([-40.5, 25.25, 12.0])
TILT = 12.0  # degrees, for the gantry-tilt variant


def ds_str(v):
    # DS values are at most 16 characters.
    return float(f'{v:.6f}')


def base(sop_class, series_uid, study_uid, frame_uid, nrows, ncols, series_number=3, syntax=ImplicitVRLittleEndian):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = syntax
    ds = FileDataset(None, {}, file_meta=meta, preamble=b'\0' * 128)
    ds.is_implicit_VR = syntax == ImplicitVRLittleEndian
    ds.is_little_endian = syntax != ExplicitVRBigEndian
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = 'Hippocampus^Test'
    ds.PatientID = 'MSD-T04'
    ds.PatientBirthDate = ''
    ds.PatientSex = 'O'
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = '20180405'
    ds.StudyTime = '120000'
    ds.StudyID = '1'
    ds.AccessionNumber = ''
    ds.ReferringPhysicianName = ''
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.Modality = 'MR'
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ''
    ds.Manufacturer = 'pydicom'
    ds.Rows, ds.Columns = nrows, ncols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = 'MONOCHROME2'
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 1
    return ds


def stored(slice_xy, syntax=ImplicitVRLittleEndian):
    # (x, y) -> (rows = y, columns = x), values so that stored * SLOPE + INTER is the image.
    v = np.rint((slice_xy.T.astype(np.float64) - INTER) / SLOPE)
    return v.astype('>i2' if syntax == ExplicitVRBigEndian else '<i2')


def position(k, tilt=0.0):
    shift = COL * tilt * k  # a gantry tilt slides each slice along the column direction
    return ORIGIN + NORMAL * SLICE_SPACING * k + shift


def single_frames(img, out, series_uid, study_uid, frame_uid, tilt=0.0, series_number=3, prefix='IM', syntax=ImplicitVRLittleEndian):
    nx, ny, nz = img.shape
    order = list(range(nz))
    # File names in a scrambled order and instance numbers reversed: the reader must sort by
    # position, not by name or number.
    rng = np.random.default_rng(7)
    names = rng.permutation(nz)
    paths = []
    for k in order:
        ds = base(MR, series_uid, study_uid, frame_uid, ny, nx, series_number, syntax)
        ds.InstanceNumber = nz - k
        ds.ImageType = ['ORIGINAL', 'PRIMARY', 'M', 'ND']
        ds.ImagePositionPatient = [ds_str(v) for v in position(k, tilt)]
        ds.ImageOrientationPatient = [ds_str(v) for v in list(ROW) + list(COL)]
        ds.PixelSpacing = [ROW_SPACING, COL_SPACING]
        ds.SliceThickness = 3.0  # deliberately not the spacing: spacing must come from positions
        ds.RescaleSlope = SLOPE
        ds.RescaleIntercept = INTER
        ds.RescaleType = 'US'
        if tilt:
            ds.GantryDetectorTilt = TILT
        ds.PixelData = stored(img[:, :, k], syntax).tobytes()
        if syntax == JPEGBaseline8Bit:
            # Not real JPEG: a reader must refuse the transfer syntax before looking at the data.
            ds.PixelData = encapsulate([ds.PixelData])
        p = os.path.join(out, f'{prefix}{names[k]:04d}.dcm')
        ds.save_as(p, write_like_original=False)
        paths.append(p)
    return paths


def multi_frame(img, out, series_uid, study_uid, frame_uid):
    nx, ny, nz = img.shape
    ds = base(ENHANCED_MR, series_uid, study_uid, frame_uid, ny, nx, syntax=ExplicitVRLittleEndian)
    ds.InstanceNumber = 1
    ds.ImageType = ['ORIGINAL', 'PRIMARY', 'M', 'NONE']
    ds.ContentDate, ds.ContentTime = '20180405', '120000'
    ds.AcquisitionDateTime = '20180405120000'
    ds.NumberOfFrames = nz
    shared = Dataset()
    po = Dataset()
    po.ImageOrientationPatient = [ds_str(v) for v in list(ROW) + list(COL)]
    pm = Dataset()
    pm.PixelSpacing = [ROW_SPACING, COL_SPACING]
    pm.SliceThickness = 3.0
    pv = Dataset()
    pv.RescaleSlope, pv.RescaleIntercept, pv.RescaleType = SLOPE, INTER, 'US'
    shared.PlaneOrientationSequence = Sequence([po])
    shared.PixelMeasuresSequence = Sequence([pm])
    shared.PixelValueTransformationSequence = Sequence([pv])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    # Frames stored from the last position to the first: the reader must sort them.
    frames = list(reversed(range(nz)))
    per = []
    for n, k in enumerate(frames):
        f = Dataset()
        pp = Dataset()
        pp.ImagePositionPatient = [ds_str(v) for v in position(k)]
        fc = Dataset()
        fc.StackID = '1'
        fc.InStackPositionNumber = k + 1
        fc.DimensionIndexValues = [1, k + 1]
        f.PlanePositionSequence = Sequence([pp])
        f.FrameContentSequence = Sequence([fc])
        per.append(f)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per)
    ds.PixelData = np.stack([stored(img[:, :, k]) for k in frames]).tobytes()
    p = os.path.join(out, 'ENHANCED.dcm')
    ds.save_as(p, write_like_original=False)
    return [p]


def main():
    src, out, variant = sys.argv[1], sys.argv[2], sys.argv[3]
    img = np.asarray(nib.load(src).dataobj)
    os.makedirs(out, exist_ok=True)
    study, frame = generate_uid(), generate_uid()
    series = generate_uid()
    info = {}
    # Single frames are implicit VR little endian (the default transfer syntax) unless the
    # variant names another; the multi-frame image is explicit VR little endian.
    syntax = {'bigendian': ExplicitVRBigEndian, 'deflate': DeflatedExplicitVRLittleEndian, 'compressed': JPEGBaseline8Bit}.get(variant, ImplicitVRLittleEndian)
    if variant == 'multiframe':
        paths = multi_frame(img, out, series, study, frame)
    else:
        tilt = SLICE_SPACING * np.tan(np.radians(TILT)) if variant == 'tilt' else 0.0
        # A JPEG transfer syntax with native data is enough to be refused by its UID.
        paths = single_frames(img, out, series, study, frame, tilt=tilt, syntax=syntax)
    if variant == 'duplicate':
        # A second instance at the position of slice 5 (another SOP instance, same place).
        ds = pydicom.dcmread(paths[5])
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        info['files'] = [os.path.basename(paths[5]), 'DUP0005.dcm']
        ds.save_as(os.path.join(out, 'DUP0005.dcm'), write_like_original=False)
    elif variant == 'missing':
        os.remove(paths[10])
        info['files'] = [os.path.basename(paths[9]), os.path.basename(paths[11])]
    elif variant == 'mixed':
        # A second series (another case) in the same folder.
        other = np.asarray(nib.load(sys.argv[4]).dataobj)
        more = single_frames(other, out, generate_uid(), study, frame, series_number=4, prefix='OTHER')
        info['files'] = [os.path.basename(more[0])]
    elif variant == 'nondicom':
        with open(os.path.join(out, 'notes.txt'), 'w') as fh:
            fh.write('scanned on Tuesday\n' * 20)
        info['files'] = ['notes.txt']
    elif variant == 'truncated':
        p = paths[7]
        size = os.path.getsize(p)
        with open(p, 'r+b') as fh:
            fh.truncate(size - img.shape[0] * img.shape[1])  # half the pixel data is gone
        info['files'] = [os.path.basename(p)]
    else:
        info['files'] = [os.path.basename(p) for p in paths]
    info.update({
        'row': list(ROW), 'col': list(COL), 'origin': list(ORIGIN),
        'spacing': [COL_SPACING, ROW_SPACING, SLICE_SPACING], 'shape': list(img.shape),
        'slope': SLOPE, 'inter': INTER, 'series': series,
    })
    print(json.dumps(info))


if __name__ == '__main__':
    main()
