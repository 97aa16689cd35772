"""Free energies with LAMMPS for any potential it runs (an MTP through pair style mtp, an EAM, ...).

Solid: Frenkel-Ladd switching to an Einstein crystal; liquid: switching to the
Uhlenbeck-Ford fluid; temperature dependence by reversible scaling; lambda paths between
two potentials; free-energy perturbation from the MTP to its reference.  No pyiron here:
the job classes in ``pyiron_mtp.jobs`` sit on top.  Energies in eV/atom, temperatures in K,
pressures in GPa, volumes in A^3/atom.
"""
