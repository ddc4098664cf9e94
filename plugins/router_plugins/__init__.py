"""The router's built-in plugins, registered through the same hooks as any third party.

`router.plugins.BUILTIN_PLUGINS` lists the modules in registration order; a
plugin's name (for `[plugins.NAME]` options and the `disable` list) is the last
part of its module name:

- `channels.normalized`: reads the normalized contact JSON (last resort).
- `queues.queue_match`: first queue by channel and skills (last resort).
- `priority.vip`, `priority.complaint`, `priority.channel_urgency`: priority terms.
- `scoring.skills`, `.idle`, `.occupancy`, `.sticky`, `.outcomes`, `.language`:
  agent scoring terms, each 0..1 per candidate.
- `strategies.round_robin`, `strategies.best_score`: pick the winner.
"""
