from rest_framework.negotiation import BaseContentNegotiation


class JsonOnlyNegotiation(BaseContentNegotiation):
    """The API speaks JSON only: no Accept-header parsing on every request."""

    def select_parser(self, request, parsers):
        for parser in parsers:
            if request.content_type.split(";", 1)[0].strip() == parser.media_type:
                return parser
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
