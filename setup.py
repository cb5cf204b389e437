from setuptools import find_packages, setup

setup(
    name="hyppo_hep",
    version="0.1.0",
    description="Variability-aware surrogate hyperparameter optimisation for HEP generative models and classifiers, built for MPI clusters",
    packages=find_packages(include=["hyppo_hep", "hyppo_hep.*"]),
    python_requires=">=3.9",
    install_requires=[
        "numpy>=1.22",
        "scipy>=1.8",
        "scikit-learn>=1.1",
        "pyyaml>=5.4",
        # A range that the CPU wheel 2.13.0 satisfies; CI pins torch==2.13.0 first.
        "torch>=1.13,<2.15",
    ],
    extras_require={
        "mpi": ["mpi4py>=3.1", "mpich"],
        "plots": ["matplotlib>=3.5"],
        "io": ["h5py", "uproot"],
        "test": ["pytest>=7", "hypothesis>=6"],
    },
    entry_points={"console_scripts": ["hyppo-hep=hyppo_hep.run:main"]},
)
