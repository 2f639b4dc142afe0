//! Tenant bot: one white-label VPN sales bot per tenant (built out in the provisioner and tenant issues).
