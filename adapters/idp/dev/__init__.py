"""Log test people in by choosing them: the embedded default's and the tests' identity provider.

Gives the same principals as the real BankID and SITHS logins, through the same claim mappers,
and refuses to start in production mode. The population-register port lives here for now.
"""

from adapters.idp.dev.people import DevCitizen, DevClinician, DevCommission, DevDirectory, demo_directory
from adapters.idp.dev.population import InMemoryPopulationRegister, PopulationRegister, act_for_child
from adapters.idp.dev.provider import DevChoice, DevIdentityProvider, DevIdpRefused

__all__ = [
    "DevChoice",
    "DevCitizen",
    "DevClinician",
    "DevCommission",
    "DevDirectory",
    "DevIdentityProvider",
    "DevIdpRefused",
    "InMemoryPopulationRegister",
    "PopulationRegister",
    "act_for_child",
    "demo_directory",
]
