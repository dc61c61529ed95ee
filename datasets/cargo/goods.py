"""stub"""

def tires(c, rng, region, width_cm):
    return []


def garments(c, rng, region, width_cm):
    return []


def beverages(c, rng, region, width_cm):
    return []


def electronics(c, rng, region, width_cm):
    return []


def furniture(c, rng, region, width_cm):
    return []


