"""stub"""

def machinery(c, rng, region, width_cm):
    return []


def vehicles(c, rng, region, width_cm):
    return []


def steel_coils(c, rng, region, width_cm):
    return []


