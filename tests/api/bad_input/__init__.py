"""Bad input gets a clear 4xx problem+json and never a 5xx: paging parameters on every list (found
from the served schema, so a new list is covered by itself), query strings with NUL or absurd
lengths, bodies that are not JSON, NUL in JSON strings, money past its bounds, and errors under
/api/ whatever DEBUG says."""
