"""stub"""

def wood_pulp(c, rng, region, width_cm):
    return []


def grain_bags(c, rng, region, width_cm):
    return []


def plastic_pellets(c, rng, region, width_cm):
    return []


