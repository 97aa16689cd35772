#!/bin/bash
# the stand-in for VASP (tests): python from VASP_STANDIN_PYTHON, default python3
exec "${VASP_STANDIN_PYTHON:-python3}" "$(dirname "$0")/../../../vasp_standin.py"
