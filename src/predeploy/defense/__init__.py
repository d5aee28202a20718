"""Help for defenders: which of my components are affected by the advisories I may see?"""
