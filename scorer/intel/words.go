package intel

// englishWords are common English words (and a few words every web name
// uses) from which BenignCorpus builds ordinary-looking domain names. Written
// by hand for this project; see BenignCorpus for how they are combined.
var englishWords = []string{
	"about", "account", "action", "active", "admin", "advance", "agency", "air", "alpha", "amazing", "america",
	"analytics", "animal", "answer", "app", "apple", "art", "asset", "audio", "auto", "baby", "back", "bank",
	"base", "beach", "bear", "beauty", "best", "better", "big", "bike", "bird", "black", "blog", "blue", "board",
	"boat", "body", "book", "boost", "box", "brain", "brand", "bread", "bridge", "bright", "build", "business",
	"buy", "cafe", "call", "camera", "camp", "capital", "car", "card", "care", "career", "cart", "case", "cash",
	"cat", "center", "chain", "chat", "cheap", "check", "chef", "city", "class", "clean", "clear", "click",
	"client", "clinic", "cloud", "club", "coach", "code", "coffee", "coin", "college", "color", "comfort",
	"common", "community", "company", "compare", "connect", "content", "cook", "cool", "core", "corner",
	"country", "craft", "create", "credit", "crew", "cross", "crowd", "cup", "custom", "daily", "data", "date",
	"day", "deal", "deep", "delta", "dental", "design", "desk", "dev", "digital", "direct", "doctor", "dog",
	"door", "dream", "drive", "drop", "early", "earth", "easy", "eat", "eco", "edge", "edu", "energy", "engine",
	"event", "every", "expert", "express", "eye", "fact", "fair", "family", "farm", "fashion", "fast", "feed",
	"field", "file", "film", "finance", "find", "fire", "first", "fish", "fit", "flash", "fleet", "flow",
	"flower", "fly", "focus", "food", "force", "forest", "form", "forum", "free", "fresh", "friend", "front",
	"fruit", "fun", "fund", "future", "game", "garden", "gate", "gear", "gift", "girl", "global", "go", "gold",
	"good", "green", "grid", "group", "grow", "guide", "hair", "hand", "happy", "harbor", "health", "heart",
	"help", "hero", "high", "hill", "home", "hope", "horse", "host", "hot", "hotel", "house", "hub", "idea",
	"image", "info", "inside", "insight", "insurance", "iron", "island", "job", "join", "journal", "joy",
	"just", "key", "kid", "kind", "king", "kitchen", "lab", "lake", "land", "language", "last", "law", "lead",
	"learn", "legal", "life", "light", "line", "link", "list", "little", "live", "loan", "local", "lock",
	"logic", "long", "look", "love", "lucky", "magic", "mail", "main", "maker", "map", "market", "master",
	"match", "media", "medical", "meet", "memory", "metro", "micro", "mind", "mobile", "modern", "money",
	"moon", "more", "motor", "mountain", "move", "movie", "music", "my", "nation", "native", "nature", "net",
	"network", "new", "news", "next", "nice", "night", "north", "note", "now", "ocean", "office", "one",
	"online", "open", "orange", "order", "organic", "outdoor", "page", "paint", "paper", "park", "part",
	"partner", "party", "pass", "path", "pay", "peak", "people", "perfect", "pet", "phone", "photo", "pick",
	"pilot", "pixel", "pizza", "place", "plan", "planet", "plant", "play", "plus", "point", "policy", "pop",
	"port", "post", "power", "press", "price", "prime", "print", "pro", "project", "proof", "pure", "quick",
	"radio", "rain", "rate", "read", "real", "red", "rent", "report", "rest", "review", "rich", "ride",
	"right", "river", "road", "rock", "room", "root", "route", "royal", "run", "safe", "sale", "salt", "save",
	"school", "science", "score", "sea", "search", "secure", "seed", "sell", "send", "sense", "server",
	"service", "share", "shield", "ship", "shop", "show", "sign", "silver", "simple", "site", "sky", "smart",
	"smile", "social", "soft", "solar", "solution", "song", "sound", "source", "south", "space", "spark",
	"sport", "spot", "spring", "square", "stack", "staff", "stage", "star", "start", "state", "station",
	"step", "stock", "stone", "store", "story", "stream", "street", "strong", "studio", "study", "style",
	"sun", "super", "supply", "support", "sure", "swift", "system", "table", "talent", "talk", "task", "taste",
	"team", "tech", "test", "text", "theme", "think", "ticket", "time", "today", "tool", "top", "total",
	"touch", "tour", "town", "track", "trade", "trail", "train", "travel", "tree", "trend", "trip", "true",
	"trust", "truth", "tube", "union", "unit", "up", "urban", "user", "valley", "value", "vision", "visit",
	"voice", "wall", "watch", "water", "wave", "way", "wealth", "web", "week", "well", "west", "white", "wide",
	"wild", "win", "wind", "window", "wine", "wise", "wolf", "wood", "word", "work", "world", "write", "yard",
	"year", "yellow", "yoga", "young", "your", "zone",
}

// tlds weight common top-level domains roughly as they appear in traffic.
var tlds = []string{"com", "com", "com", "com", "net", "org", "io", "co", "de", "uk", "info", "app", "dev", "us"}
