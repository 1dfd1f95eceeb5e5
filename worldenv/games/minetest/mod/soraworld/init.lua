-- SoraWorld ground truth: every server step, write the player's state to a JSON file in the world
-- folder, which the Python env (worldenv/games/minetest/env.py) reads at each tick's end.
-- Settings (minetest.conf, written by the env):
--   soraworld_state_file   file name inside the world folder (default soraworld_state.json)
--   soraworld_start_items  "name count;name count;..." given to a new player
--   soraworld_time_of_day  0..1, set once when the first player joins (empty: the game's own)
--   soraworld_sprint_speed speed multiplier while aux1 ("sprint") and forward are held

local settings = minetest.settings
local state_path = minetest.get_worldpath() .. "/" .. (settings:get("soraworld_state_file") or "soraworld_state.json")
local sprint_speed = tonumber(settings:get("soraworld_sprint_speed") or "1.3") or 1.3
local start_items = settings:get("soraworld_start_items") or ""
local time_of_day = tonumber(settings:get("soraworld_time_of_day") or "")
local RAY_RANGE = 32  -- the caption names the pointed block up to this far, the hand reaches 4

local seq = 0
local elapsed = 0.0
local time_set = false
local sprinting = {}

minetest.register_on_newplayer(function(player)
	-- A fixed look for a new player, so that the same map seed gives the same first frame.
	player:set_look_horizontal(0)
	player:set_look_vertical(0)
	local inv = player:get_inventory()
	for entry in string.gmatch(start_items, "[^;]+") do
		local name, count = string.match(entry, "^%s*(%S+)%s*(%d*)%s*$")
		if name and minetest.registered_items[name] then
			inv:add_item("main", ItemStack(name .. " " .. (count ~= "" and count or "1")))
		end
	end
end)

minetest.register_on_joinplayer(function(player)
	-- 9 hotbar slots, like Minecraft's hotbar.1-9 (minetest_game shows 8)
	player:hud_set_hotbar_itemcount(9)
	-- At 160x120 the hotbar and the hearts would cover a third of the view; the hand with its
	-- wielded item and the crosshair stay (they show what is held and where it points).
	player:hud_set_flags({hotbar = false, healthbar = false, breathbar = false, minimap = false,
		minimap_radar = false, crosshair = true, wielditem = true})
end)

local function pointed_node(player, pos)
	local eye = vector.add(pos, {x = 0, y = player:get_properties().eye_height or 1.47, z = 0})
	local dir = player:get_look_dir()
	local ray = minetest.raycast(eye, vector.add(eye, vector.multiply(dir, RAY_RANGE)), false, false)
	for hit in ray do
		if hit.type == "node" then
			local node = minetest.get_node(hit.under)
			local def = minetest.registered_nodes[node.name]
			-- air-like nodes are not what a player points at
			if def == nil or def.pointable ~= false then
				return {
					node = node.name,
					pos = {hit.under.x, hit.under.y, hit.under.z},
					distance = vector.distance(eye, hit.intersection_point),
				}
			end
		end
	end
	return nil
end

local function player_state(player)
	local pos = player:get_pos()
	local inv = player:get_inventory()
	local counts = {}
	local any = false
	local hotbar = {}
	for i, stack in ipairs(inv:get_list("main") or {}) do
		if i <= 9 then
			hotbar[i] = stack:get_name()
		end
		if not stack:is_empty() then
			counts[stack:get_name()] = (counts[stack:get_name()] or 0) + stack:get_count()
			any = true
		end
	end
	local under = minetest.get_node({x = pos.x, y = pos.y - 0.5, z = pos.z}).name
	local biome = nil
	local bd = minetest.get_biome_data(pos)
	if bd and bd.biome then
		biome = minetest.get_biome_name(bd.biome)
	end
	local yaw, pitch = player:get_look_horizontal(), player:get_look_vertical()
	local ctrl = player:get_player_control()
	return {
		name = player:get_player_name(),
		pos = {pos.x, pos.y, pos.z},
		yaw = yaw,
		pitch = pitch,
		hp = player:get_hp(),
		breath = player:get_breath(),
		wield_index = player:get_wield_index(),
		wielded = player:get_wielded_item():get_name(),
		-- an empty table would be written as a JSON array; the env reads null as no items
		inventory = any and counts or minetest.null,
		hotbar = hotbar,  -- the item names in slots 1-9 ("" for empty)
		ground = under,
		biome = biome,
		pointed = pointed_node(player, pos) or minetest.null,
		controls = {up = ctrl.up, down = ctrl.down, left = ctrl.left, right = ctrl.right, jump = ctrl.jump,
			sneak = ctrl.sneak, aux1 = ctrl.aux1, dig = ctrl.dig or ctrl.LMB, place = ctrl.place or ctrl.RMB},
	}
end

minetest.register_globalstep(function(dtime)
	seq = seq + 1
	elapsed = elapsed + dtime
	local players = minetest.get_connected_players()
	if #players == 0 then
		return
	end
	if time_of_day and not time_set then
		minetest.set_timeofday(time_of_day)
		time_set = true
	end
	local player = players[1]
	-- Minecraft's sprint: faster while aux1 and forward are held (minetest_game has no sprint)
	local ctrl = player:get_player_control()
	local want = ctrl.aux1 and ctrl.up
	local name = player:get_player_name()
	if want ~= (sprinting[name] or false) then
		player:set_physics_override({speed = want and sprint_speed or 1.0})
		sprinting[name] = want
	end
	local state = player_state(player)
	state.seq = seq
	state.elapsed = elapsed
	state.time_of_day = minetest.get_timeofday()
	state.sprinting = want
	local text = minetest.write_json(state)
	if text then
		minetest.safe_file_write(state_path, text)
	end
end)
