//! Provisioner: converges desired tenant instances to running ones (built out in the provisioner issue).
