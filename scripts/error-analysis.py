#!/usr/bin/env python3
"""Where a model's mistakes are: the confusion matrix of predicted masks against reference labels,
the share of wrong voxels on the reference's one-voxel boundary, and the Dice of the merged
foreground. Reads NIfTI with nibabel (an independent reader).

    python3 scripts/error-analysis.py PREDICTIONS_DIR LABELS_DIR

PREDICTIONS_DIR holds <case>.nii.gz masks (e.g. from `vnet-native predict -i`); LABELS_DIR the
reference <case>.nii.gz of each (e.g. ../shared/data/Task04_Hippocampus/labelsTr)."""
import glob
import os
import sys

import nibabel as nib
import numpy as np


def main(pred_dir, label_dir):
    files = sorted(f for f in glob.glob(os.path.join(pred_dir, '*.nii.gz')) if '.probabilities.' not in f)
    if not files:
        sys.exit(f'{pred_dir}: no .nii.gz masks')
    k = None
    wrong = on_edge = 0
    for f in files:
        ref_file = os.path.join(label_dir, os.path.basename(f))
        if not os.path.exists(ref_file):
            sys.exit(f'{ref_file}: no reference label for {f}')
        p = np.asarray(nib.load(f).dataobj).astype(np.int64)
        r = np.asarray(nib.load(ref_file).dataobj).astype(np.int64)
        if p.shape != r.shape:
            sys.exit(f'{f}: shape {p.shape}, reference {r.shape}')
        n = int(max(p.max(), r.max())) + 1
        if k is None or n > k.shape[0]:
            k = np.pad(k, (0, n - k.shape[0])) if k is not None else np.zeros((n, n), np.int64)
        np.add.at(k, (r.ravel(), p.ravel()), 1)
        edge = np.zeros(r.shape, bool)
        for axis in range(3):
            for shift in (1, -1):
                edge |= np.roll(r, shift, axis=axis) != r
        err = (p != r) & ((p > 0) | (r > 0))
        wrong += int(err.sum())
        on_edge += int((err & edge).sum())
    print(f'{len(files)} cases; confusion matrix (rows: reference label, columns: predicted):')
    print(k)
    print(f'wrong voxels on the reference boundary (6-neighbour): {on_edge} of {wrong} ({100 * on_edge / max(wrong, 1):.1f} %)')
    for c in range(1, k.shape[0]):
        errs = k[c, :].sum() + k[:, c].sum() - 2 * k[c, c]
        bg = k[c, 0] + k[0, c]
        dice = 2 * k[c, c] / (k[c, :].sum() + k[:, c].sum())
        print(f'label {c}: Dice {dice:.4f} (voxels of all cases pooled); {errs} wrong voxels, {100 * bg / max(errs, 1):.1f} % against background, {100 * (errs - bg) / max(errs, 1):.1f} % against other labels')
    fg = k[1:, 1:].sum()
    print(f'foreground merged (all labels as one): Dice {2 * fg / (k[1:, :].sum() + k[:, 1:].sum()):.4f}')


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
