from setuptools import find_packages, setup

setup(
    name="hyppo_hep",
    version="0.1.0",
    description="Variability-aware surrogate hyperparameter optimisation for HEP generative models and classifiers, built for MPI clusters",
    packages=find_packages(include=["hyppo_hep", "hyppo_hep.*"]),
    package_data={"hyppo_hep": ["configs/*.yaml"]},
    python_requires=">=3.10",
    install_requires=[
        "numpy>=1.22",
        "scipy>=1.8",
        "scikit-learn>=1.1",
        "pyyaml>=5.4",
        # the progress bar on a terminal (hyppo_hep/progress.py)
        "tqdm>=4.60",
        # A range that the CPU wheel 2.13.0 satisfies; CI pins torch==2.13.0 first.
        "torch>=1.13,<2.15",
    ],
    extras_require={
        "mpi": ["mpi4py>=3.1", "mpich"],
        # the analysis: figures (matplotlib), Sobol indices (SALib), parallel coordinates (plotly)
        "plots": ["matplotlib>=3.7", "SALib>=1.4.6", "plotly>=5"],
        "pandas": ["pandas>=1.5"],  # hyppo_hep.load: a campaign's sets and trials as DataFrames
        # user data files: HDF5 and ROOT trees
        "io": ["h5py", "uproot"],
        # campaigns handed to Optuna (journal file, optuna-dashboard) and MLflow
        "interop": ["optuna>=3.6", "mlflow-skinny>=2.10"],
        # scikit-image is the reference SSIM the tests compare against; optuna and mlflow
        # check the interop exports against the real libraries; pandas: hyppo_hep.load
        "test": ["pytest>=7", "hypothesis>=6", "scikit-image", "optuna>=3.6", "mlflow-skinny>=2.10", "pandas>=1.5"],
        # peers of benchmarks/bench_optimizers.py only, never needed at run time
        "bench": ["optuna>=3.6", "pysot>=0.3.3", "scikit-optimize>=0.10", "smac>=2.0",
                  # HEBO's own imports (HEBO itself pins numpy<1.25: pip install HEBO --no-deps)
                  "pymoo>=0.6", "gpytorch>=1.9", "disjoint-set"],
    },
    entry_points={"console_scripts": ["hyppo-hep=hyppo_hep.cli:main", "hyppo-hep-analyze=hyppo_hep.analyze:main"]},
)
