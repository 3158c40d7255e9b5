// Placeholder: HDF5 datasets arrive with the data issue.
